"""GET /healthz says whether the directory answers."""

from __future__ import annotations

from provisioner import create_app

from suite_config import app_config


def test_healthz_reports_the_directory_up(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "checks": {"directory": "up", "store": "up"}}


def test_healthz_answers_503_when_slapd_is_down(own_slapd):
    client = create_app(app_config(own_slapd)).test_client()
    assert client.get("/healthz").status_code == 200
    own_slapd.stop()
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json == {"status": "unavailable", "checks": {"directory": "down", "store": "up"}}


def test_healthz_answers_503_when_the_store_is_unreachable(slapd_server, tmp_path):
    unreachable = f"sqlite:///{tmp_path / 'store.sqlite'}"
    app = create_app(app_config(slapd_server, unreachable))
    (tmp_path / "store.sqlite").unlink()
    (tmp_path / "store.sqlite").mkdir()  # a folder where the database file was
    app.extensions["store"].dispose()
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["checks"]["store"] == "down"
