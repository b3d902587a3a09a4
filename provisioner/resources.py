"""The application's handles on its back ends: opened once per request or CLI command,
closed at teardown.

At `init_app` the bind password moves out of `app.config` into the directory
settings, and the config keeps `***`, so a config dump never shows it.
"""

from __future__ import annotations

from flask import Flask, current_app, g

from .catalogue import Catalogue
from .directory import Directory, DirectorySettings

MASK = "***"


def init_app(app: Flask) -> None:
    app.extensions["directory_settings"] = DirectorySettings(
        url=app.config["LDAP_URL"],
        base_dn=app.config["LDAP_BASE_DN"],
        bind_dn=app.config["LDAP_BIND_DN"],
        bind_password=app.config["LDAP_BIND_PASSWORD"],
        timeout=app.config["LDAP_TIMEOUT"],
    )
    app.config["LDAP_BIND_PASSWORD"] = MASK
    app.teardown_appcontext(_close_directory)


def get_directory() -> Directory:
    if "directory" not in g:
        g.directory = Directory(current_app.extensions["directory_settings"])
    return g.directory


def get_catalogue() -> Catalogue:
    return current_app.extensions["catalogue"]


def _close_directory(_exception: BaseException | None) -> None:
    directory = g.pop("directory", None)
    if directory is not None:
        directory.close()
