"""GET /healthz: do the directory and the store answer? For load balancers and monitoring."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from ..resources import get_portal
from ..workflow.provisioning import health

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz() -> ResponseReturnValue:
    checks = health(get_portal())
    healthy = all(checks.values())
    return (jsonify(status="ok" if healthy else "unavailable",
                    checks={name: "up" if up else "down" for name, up in checks.items()}),
            200 if healthy else 503)
