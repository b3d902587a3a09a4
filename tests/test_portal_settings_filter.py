"""The deploy roles' check of the inventory's portal_settings (playbooks/filter_plugins):
what the portal would refuse at start is refused on the controller, naming the setting."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

PLUGIN = Path(__file__).parent.parent / "playbooks" / "filter_plugins" / "occupy_names.py"


@pytest.fixture(scope="module")
def portal_settings():
    spec = importlib.util.spec_from_file_location("occupy_names", PLUGIN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.FilterModule().filters()["occupy_portal_settings"]


def test_known_settings_come_back_typed(portal_settings):
    assert portal_settings({"REJECTED_RETENTION_DAYS": "30", "SMTP_STARTTLS": "yes"}) == {
        "REJECTED_RETENTION_DAYS": 30, "SMTP_STARTTLS": True}
    assert portal_settings({}) == {}


@pytest.mark.parametrize(("settings", "named"), [
    ({"REJECTED_RETENTION_DAY": 30}, "REJECTED_RETENTION_DAY: no such setting"),
    ({"SECRET_KEY": "x" * 40}, "the secret SECRET_KEY"),
    ({"SMTP_PASSWORD": "x"}, "the secret SMTP_PASSWORD"),
    ({"REJECTED_RETENTION_DAYS": "a month"}, "REJECTED_RETENTION_DAYS must be a whole number"),
    (["REJECTED_RETENTION_DAYS"], "must be a mapping"),
])
def test_what_the_portal_would_refuse_is_refused_by_name(portal_settings, settings, named):
    with pytest.raises(AnsibleFilterError, match=named):
        portal_settings(settings)
