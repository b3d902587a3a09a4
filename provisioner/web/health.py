"""GET /healthz: does each back end answer? For load balancers and monitoring."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from ..directory import DirectoryError
from ..resources import get_directory

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz():
    checks = {}
    try:
        get_directory().ping()
        checks["directory"] = "up"
    except DirectoryError as error:
        current_app.logger.warning("health check: %s", error)
        checks["directory"] = "down"
    healthy = all(state == "up" for state in checks.values())
    return jsonify(status="ok" if healthy else "unavailable", checks=checks), 200 if healthy else 503
