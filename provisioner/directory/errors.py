"""Typed directory errors, each with a message a sysadmin can act on."""


class DirectoryError(Exception):
    """Something the directory refused or could not do."""


class DirectoryUnavailable(DirectoryError):
    """The LDAP server does not answer, or refuses the portal's own bind."""


class AlreadyExists(DirectoryError):
    """An entry with this name, uid or mail is already in the directory."""


class NotFound(DirectoryError):
    """No entry with this name."""


class InvalidValue(DirectoryError):
    """A value the directory will not store or look up (bad syntax, too long, against policy)."""
