"""occupy-provisioner: onboard volunteers into an occupation's LDAP, lists, wiki and Redmine."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from . import log_redaction, resources, web
from .catalogue import load_catalogue
from .config import load_settings


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """The application factory. `config` overrides every other layer (tests, the demo)."""
    app = Flask(__name__, template_folder="web/templates", static_folder="web/static")
    app.config.update(load_settings(config))
    app.extensions["catalogue"] = load_catalogue(app.config["CATALOGUE"] or None)
    resources.init_app(app)
    web.init_app(app)
    if app.config["TRUSTED_PROXIES"]:
        # The client's own address, as nginx reports it: the abuse limits count by it.
        # Flask's documented way to add WSGI middleware; its stubs type wsgi_app as a method.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=app.config["TRUSTED_PROXIES"], x_proto=0)
    log_redaction.install()
    return app
