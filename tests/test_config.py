"""Settings: layers, a clear error for a missing one, secrets kept out of app.config."""

from __future__ import annotations

import pytest

from provisioner import create_app
from provisioner.config import ConfigError, load_settings

REQUIRED = {"PROVISIONER_SECRET_KEY": "k" * 32, "PROVISIONER_LDAP_BIND_PASSWORD": "bind-secret"}


def test_defaults_are_for_development_on_loopback():
    settings = load_settings(environ=REQUIRED)
    assert settings["LDAP_URL"].startswith("ldap://127.0.0.1")
    assert settings["SMTP_HOST"] == "127.0.0.1"
    assert settings["DATABASE_URL"].startswith("sqlite:///")


@pytest.mark.parametrize("missing", sorted(REQUIRED))
def test_a_missing_required_setting_is_named(missing):
    environ = {name: value for name, value in REQUIRED.items() if name != missing}
    with pytest.raises(ConfigError, match=f"{missing} is not set"):
        load_settings(environ=environ)


def test_environment_overrides_the_instance_file_and_the_mapping_overrides_both(tmp_path):
    instance = tmp_path / "provisioner.cfg"
    instance.write_text('LDAP_URL = "ldap://from-file:389"\nSMTP_PORT = 2525\nIGNORED = 1\n')
    environ = {**REQUIRED, "PROVISIONER_CONFIG": str(instance), "PROVISIONER_SMTP_PORT": "2626"}
    settings = load_settings(environ=environ)
    assert settings["LDAP_URL"] == "ldap://from-file:389"
    assert settings["SMTP_PORT"] == 2626
    assert "IGNORED" not in settings
    assert load_settings({"SMTP_PORT": 25}, environ=environ)["SMTP_PORT"] == 25


def test_a_malformed_number_is_named_and_a_secret_is_never_echoed():
    with pytest.raises(ConfigError, match="PROVISIONER_SMTP_PORT must be a whole number"):
        load_settings(environ={**REQUIRED, "PROVISIONER_SMTP_PORT": "twenty-five"})


def test_an_unreadable_instance_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="cannot read PROVISIONER_CONFIG"):
        load_settings(environ={**REQUIRED, "PROVISIONER_CONFIG": str(tmp_path / "nope.cfg")})


def test_the_bind_password_leaves_app_config(monkeypatch):
    for name, value in {**REQUIRED, "PROVISIONER_DATABASE_URL": "sqlite://"}.items():
        monkeypatch.setenv(name, value)
    app = create_app()
    assert app.config["LDAP_BIND_PASSWORD"] == "***"
    assert "bind-secret" not in repr(dict(app.config))
    assert app.extensions["directory_settings"].bind_password == "bind-secret"
    assert "bind-secret" not in repr(app.extensions["directory_settings"])
