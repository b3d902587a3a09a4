"""The suite's occupation, and how it configures the portal and the directory layer against its servers."""

from __future__ import annotations

from provisioner.directory import DirectorySettings
from provisioner.private_services.slapd import PrivateSlapd
from provisioner.private_services.stack import Occupation, WikiAdmin, portal_config, portal_directory

BASE_DN = "dc=test,dc=occupy"
ORGANISATION = "Occupy Test"
LIST_DOMAIN = "lists.test.occupy"
OCCUPATION = Occupation(base_dn=BASE_DN, name=ORGANISATION, list_domain=LIST_DOMAIN)
WIKI_ADMIN = "wikibot"
WIKI_ADMIN_PASSWORD = "superuser passphrase for tests"
WIKI_ROBOT = WikiAdmin(WIKI_ADMIN, WIKI_ADMIN_PASSWORD)


def settings_for(server: PrivateSlapd) -> DirectorySettings:
    """The portal's settings: it binds as cn=portal, as in production, never as the root DN."""
    return portal_directory(server, timeout=2.0)


def app_config(server: PrivateSlapd, database: str = "sqlite://", smtp_port: int = 9,
               runner_dir: str = "var/test-runner") -> dict:
    return portal_config(
        server,
        RUNNER_DIR=runner_dir,
        SECRET_KEY="test-secret-key-not-for-production",
        DATABASE_URL=database,
        SMTP_PORT=smtp_port,
        PUBLIC_URL="http://localhost",
        SECURE_COOKIES=False,
        LDAP_TIMEOUT=2.0,
        TESTING=True,
    )
