"""Django settings of Mailman's web parts (HyperKitty, Postorius) as the project runs them.

Debian's mailman3-web settings.py ends with ``from settings_local import *``: this file
is that settings_local, the same for the private instance (private_services/
mailman_web.py puts a copy first on the Python path) and a deployed host (the
mailman_web role installs it as /etc/mailman3/mailman-web.py). It imports only the
standard library and nothing from the provisioner package; ``mailman_web_rules.py``
must sit beside it on the Python path.

What differs between sites comes from a JSON file of values, mode 0600 (0640 at most),
named by $OCCUPY_MAILMAN_WEB_VALUES or else ``mailman-web.json`` beside this file's
real path (see _REQUIRED and _OPTIONAL below for its keys).

The rules, kept here once:
- login only through the directory: django-auth-ldap binds as the person
  (uid=<login>,<ldap_people_dn>, never ou=pending), with no local-password backend;
  the address is LDAP's ``mail`` at every login, marked verified (mailman_web_rules);
- no local sign-up, no social login, no mail from allauth (no password reset), one
  address per account, and nobody is staff or superuser (no Django admin);
- the archiver API only from loopback with the key; host names: loopback and the
  site's own; no Gravatar requests leaking members' address hashes.
"""

import json as _json
import os as _os
import stat as _stat
from typing import Any as _Any

_VALUES_VARIABLE = "OCCUPY_MAILMAN_WEB_VALUES"
_REQUIRED = (
    "secret_key",               # Django's SECRET_KEY
    "mailman_rest_url",         # Mailman core's REST API root, e.g. http://127.0.0.1:8001
    "mailman_rest_user",
    "mailman_rest_password",
    "archiver_key",             # the api_key of Mailman's mailman-hyperkitty.cfg
    "ldap_url",                 # ldap:// or ldaps:// URL of the directory
    "ldap_people_dn",           # ou=people,<base DN>: where accounts live
    "database",                 # Django's DATABASES["default"], e.g. {"ENGINE": ..., "NAME": ...}
    "static_root",              # where collectstatic and compress put the static files
    "fulltext_index",           # HyperKitty's Whoosh search index folder
    "log_file",
)
_OPTIONAL = {
    "hostnames": [],            # public host names the site answers to, beside loopback
    "https": False,             # served over https (behind a proxy): secure cookies
    "static_url": "/static/",
    "ldap_ca_file": "",         # CA certificate file for ldaps:// or StartTLS
    "ldap_start_tls": False,
    "web_url": "",              # this site's own URL, where Mailman fetches Postorius' templates
    "smtp_host": "127.0.0.1",   # for the few mails Django itself sends
    "smtp_port": 25,
    "from_address": "",
}
_LOOPBACK = ("127.0.0.1", "::1")


def _values_path() -> str:
    return _os.environ.get(_VALUES_VARIABLE) or _os.path.join(
        _os.path.dirname(_os.path.realpath(__file__)), "mailman-web.json")


def _read_values(path: str) -> dict[str, _Any]:
    """The site's values; refused when others may read them (they hold the secrets)."""
    try:
        mode = _os.stat(path).st_mode
        with open(path, encoding="utf-8") as file:
            values = _json.load(file)
    except (OSError, ValueError) as error:
        raise RuntimeError(f"cannot read Mailman's web settings values from {path}: {error}") from None
    if mode & _stat.S_IRWXO:
        raise RuntimeError(f"{path} holds secrets and others may read it: chmod o-rwx {path}")
    if not isinstance(values, dict):
        raise RuntimeError(f"{path} does not hold a JSON object")
    missing = [name for name in _REQUIRED if not values.get(name)]
    if missing:
        raise RuntimeError(f"{path} lacks {', '.join(missing)}")
    return {**_OPTIONAL, **values}


_values = _read_values(_values_path())

DEBUG = False
SECRET_KEY = _values["secret_key"]
ADMINS = ()
ALLOWED_HOSTS = ["localhost", *_LOOPBACK, *_values["hostnames"]]
DATABASES = {"default": _values["database"]}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"   # what the apps' migrations were made with

MAILMAN_REST_API_URL = _values["mailman_rest_url"]
MAILMAN_REST_API_USER = _values["mailman_rest_user"]
MAILMAN_REST_API_PASS = _values["mailman_rest_password"]
MAILMAN_ARCHIVER_KEY = _values["archiver_key"]
MAILMAN_ARCHIVER_FROM = _LOOPBACK
POSTORIUS_TEMPLATE_BASE_URL = _values["web_url"] or None

# Debian's list without the Fedora login provider; mailman_web_rules applies the rules
# below that settings alone cannot.
INSTALLED_APPS = (
    "hyperkitty",
    "postorius",
    "django_mailman3",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.sites",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_gravatar",
    "compressor",
    "haystack",
    "django_extensions",
    "django_q",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "mailman_web_rules.MailmanWebRules",
)

# Debian's middleware, after the rules' closed_api (see mailman_web_rules).
MIDDLEWARE = (
    "mailman_web_rules.closed_api",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django_mailman3.middleware.TimezoneMiddleware",
    "postorius.middleware.PostoriusMiddleware",
)

# The directory is the only way in: no backend that checks a local password, so an
# account made any other way can never log in with one.
AUTHENTICATION_BACKENDS = ("django_auth_ldap.backend.LDAPBackend",)
AUTH_LDAP_SERVER_URI = _values["ldap_url"]
# The login is escaped into the DN: only an entry directly under ou=people can bind.
AUTH_LDAP_USER_DN_TEMPLATE = "uid=%(user)s," + _values["ldap_people_dn"]
AUTH_LDAP_BIND_AS_AUTHENTICATING_USER = True
AUTH_LDAP_PERMIT_EMPTY_PASSWORD = False        # an empty password is an anonymous bind
AUTH_LDAP_USER_ATTRLIST = ["uid", "mail", "givenName", "sn"]
AUTH_LDAP_USER_ATTR_MAP = {"email": "mail", "first_name": "givenName", "last_name": "sn"}
AUTH_LDAP_ALWAYS_UPDATE_USER = True
AUTH_LDAP_START_TLS = bool(_values["ldap_start_tls"])
if _values["ldap_ca_file"]:
    import ldap as _ldap  # python-ldap, which django-auth-ldap needs anyway

    AUTH_LDAP_CONNECTION_OPTIONS = {
        _ldap.OPT_X_TLS_CACERTFILE: _values["ldap_ca_file"],
        _ldap.OPT_X_TLS_REQUIRE_CERT: _ldap.OPT_X_TLS_DEMAND,
        _ldap.OPT_X_TLS_NEWCTX: 0,
    }

ACCOUNT_ADAPTER = "mailman_web_rules.closed_account_adapter"
SOCIALACCOUNT_ADAPTER = "mailman_web_rules.closed_social_account_adapter"
SOCIALACCOUNT_PROVIDERS: dict[str, object] = {}
ACCOUNT_AUTHENTICATION_METHOD = "username"     # the LDAP uid; an address is never a login
ACCOUNT_EMAIL_REQUIRED = True
ACCOUNT_EMAIL_VERIFICATION = "mandatory"       # only the directory's address is verified
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_MAX_EMAIL_ADDRESSES = 1
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = False
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https" if _values["https"] else "http"

# Sessions hold nothing but JSON: with the default pickle, a leaked key runs code.
SESSION_SERIALIZER = "django.contrib.sessions.serializers.JSONSerializer"
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = bool(_values["https"])
SESSION_COOKIE_HTTPONLY = True
if _values["https"]:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

HYPERKITTY_ENABLE_GRAVATAR = False
STATIC_ROOT = _values["static_root"]
STATIC_URL = _values["static_url"]
COMPRESS_OFFLINE = True         # `manage.py compress` once; nothing written while serving
HAYSTACK_CONNECTIONS = {
    "default": {"ENGINE": "haystack.backends.whoosh_backend.WhooshEngine", "PATH": _values["fulltext_index"]},
}
# HyperKitty's follow-up work (a list's settings read from Mailman after its first
# message): run by `manage.py qcluster`, polling the database every second.
Q_CLUSTER = {"workers": 1, "timeout": 300, "retry": 360, "save_limit": 100, "orm": "default", "poll": 1}

EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = _values["smtp_host"]
EMAIL_PORT = int(_values["smtp_port"])
if _values["from_address"]:
    DEFAULT_FROM_EMAIL = SERVER_EMAIL = _values["from_address"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"verbose": {"format": "%(levelname)s %(asctime)s %(process)d %(name)s %(message)s"}},
    "handlers": {"file": {"level": "INFO", "class": "logging.handlers.WatchedFileHandler",
                          "filename": _values["log_file"], "formatter": "verbose"}},
    "loggers": {
        "django": {"handlers": ["file"], "level": "INFO"},
        "hyperkitty": {"handlers": ["file"], "level": "INFO"},
        "postorius": {"handlers": ["file"], "level": "INFO"},
        "django_auth_ldap": {"handlers": ["file"], "level": "WARNING"},
    },
}
