"""`make demo`: the portal on a private slapd, with a sysadmin whose password is printed.

Every secret here is random and lives only in this process: slapd's root
password, the session key, the demo sysadmin's password (made anew each run).
"""

from __future__ import annotations

import secrets
import signal
import sys
from pathlib import Path

from werkzeug.serving import run_simple

from . import create_app, workflow
from .config import BY_NAME
from .resources import get_catalogue, get_directory
from .slapd import PrivateSlapd

DEMO_ADMIN = "demo-admin"


def run_demo(folder: str, port: int) -> None:
    folder_path = Path(folder).resolve()
    folder_path.mkdir(parents=True, exist_ok=True)
    base_dn = BY_NAME["LDAP_BASE_DN"].default
    # SIGTERM (kill, timeout) unwinds like Ctrl-C, so slapd is stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with PrivateSlapd(folder_path / "slapd", base_dn) as slapd:
        app = create_app({
            "SECRET_KEY": secrets.token_urlsafe(32),
            "LDAP_URL": slapd.url,
            "LDAP_BASE_DN": base_dn,
            "LDAP_BIND_DN": slapd.root_dn,
            "LDAP_BIND_PASSWORD": slapd.root_password,
            "DATABASE_URL": f"sqlite:///{folder_path / 'provisioner.sqlite'}",
        })
        password = secrets.token_urlsafe(12)
        with app.app_context():
            workflow.initialise_directory(get_directory(), get_catalogue(),
                                          app.config["OCCUPATION_NAME"])
            workflow.create_sysadmin(get_directory(), DEMO_ADMIN, "demo-admin@occupy.example",
                                     "Demo Sysadmin", password)
        print(f"\nslapd (private) at {slapd.url}, data in {folder_path / 'slapd'}")
        print(f"Portal: http://127.0.0.1:{port}/   health: http://127.0.0.1:{port}/healthz")
        print(f"Demo sysadmin: {DEMO_ADMIN}   password: {password}   (new at every start)")
        print("Ctrl-C stops the portal and slapd.\n", flush=True)
        run_simple("127.0.0.1", port, app, threaded=True)
