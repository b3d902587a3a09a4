"""How the suite configures the portal and the directory layer against its servers."""

from __future__ import annotations

from provisioner.directory import DirectorySettings
from provisioner.slapd import PrivateSlapd

BASE_DN = "dc=test,dc=occupy"


def settings_for(server: PrivateSlapd) -> DirectorySettings:
    return DirectorySettings(url=server.url, base_dn=server.base_dn, bind_dn=server.root_dn,
                             bind_password=server.root_password, timeout=2.0)


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
        "LDAP_BIND_DN": server.root_dn,
        "LDAP_BIND_PASSWORD": server.root_password,
        "LDAP_TIMEOUT": 2.0,
        "TESTING": True,
    }
