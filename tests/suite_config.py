"""How the suite configures the portal and the directory layer against its servers."""

from __future__ import annotations

from provisioner.directory import DirectorySettings
from provisioner.private_services.slapd import PrivateSlapd

BASE_DN = "dc=test,dc=occupy"
ORGANISATION = "Occupy Test"


def settings_for(server: PrivateSlapd) -> DirectorySettings:
    """The portal's settings: it binds as cn=portal, as in production, never as the root DN."""
    return DirectorySettings(url=server.url, base_dn=server.base_dn, bind_dn=server.service_dn("portal"),
                             bind_password=server.service_passwords["portal"], timeout=2.0)


def app_config(server: PrivateSlapd, database: str = "sqlite://", smtp_port: int = 9,
               runner_dir: str = "var/test-runner") -> dict:
    return {
        "RUNNER_DIR": runner_dir,
        "SECRET_KEY": "test-secret-key-not-for-production",
        "DATABASE_URL": database,
        "SMTP_PORT": smtp_port,
        "PUBLIC_URL": "http://localhost",
        "SECURE_COOKIES": False,
        "LDAP_URL": server.url,
        "LDAP_BASE_DN": server.base_dn,
        "LDAP_BIND_DN": server.service_dn("portal"),
        "LDAP_BIND_PASSWORD": server.service_passwords["portal"],
        "LDAP_TIMEOUT": 2.0,
        "TESTING": True,
    }
