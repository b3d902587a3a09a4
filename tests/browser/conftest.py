"""Fixtures for browser tests: the real app served on loopback, and a headless Chromium."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

from provisioner import create_app
from provisioner.private_services.process import free_port
from provisioner.workflow import create_sysadmin

from suite_config import app_config

CHROMIUM = "/usr/bin/chromium"  # Debian's; `playwright install` needs the internet
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]
SYSADMIN = SimpleNamespace(uid="sam", mail="sam@example.org", name="Sam Admin",
                           password="correct horse steward battery")


@pytest.fixture
def portal_settings() -> dict:
    """Settings a test module adds to the live portal's (override the fixture)."""
    return {}


@pytest.fixture
def live_portal(directory, slapd_server, inbox, tmp_path, portal_settings):
    """The app over real HTTP on 127.0.0.1, a clean directory with one sysadmin behind it."""
    create_sysadmin(directory, SYSADMIN.uid, SYSADMIN.mail, SYSADMIN.name, SYSADMIN.password)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    app = create_app({**app_config(slapd_server, f"sqlite:///{tmp_path / 'store.sqlite'}",
                                   inbox.port, runner_dir=str(tmp_path / "runner")),
                      "PUBLIC_URL": url, **portal_settings})
    inbox.deliver_from(app)
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-portal", daemon=True)
    thread.start()
    try:
        yield SimpleNamespace(url=url, app=app, sysadmin=SYSADMIN)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.fixture
def context_options() -> dict:
    """Options of the page's browser context (parametrize to change, e.g. JavaScript off)."""
    return {}


@pytest.fixture
def page(context_options):
    """A page in a fresh headless Chromium. A missing Chromium fails the test."""
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (make test does)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(**context_options)
            try:
                yield context.new_page()
            finally:
                context.close()
        finally:
            browser.close()


@pytest.fixture
def sysadmin_page(page, context_options):
    """The sysadmin's own window beside the volunteer's: the same options, an English browser."""
    browser = page.context.browser
    assert browser is not None
    context = browser.new_context(**{**context_options, "locale": "en-US"})
    try:
        yield context.new_page()
    finally:
        context.close()
