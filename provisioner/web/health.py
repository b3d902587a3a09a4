"""GET /healthz: do the directory and the store answer? For load balancers and monitoring."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from ..directory import DirectoryError
from ..resources import get_directory, get_store
from ..store import StoreUnavailable

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz():
    checks = {}
    for name, ping, failure in (("directory", lambda: get_directory().ping(), DirectoryError),
                                ("store", lambda: get_store().ping(), StoreUnavailable)):
        try:
            ping()
            checks[name] = "up"
        except failure as error:
            current_app.logger.warning("health check: %s", error)
            checks[name] = "down"
    healthy = all(state == "up" for state in checks.values())
    return jsonify(status="ok" if healthy else "unavailable", checks=checks), 200 if healthy else 503
