"""HTTP: one blueprint per concern. Views validate input and call the workflow."""

from __future__ import annotations

from flask import Flask

from . import health


def init_app(app: Flask) -> None:
    app.register_blueprint(health.blueprint)
