"""A Django app beside mailman_web_settings.py: the login rules settings alone cannot make.

- At every directory login the person's Django account gets exactly one address, the
  directory's ``mail``, verified and primary (HyperKitty and Postorius find the
  person's subscriptions and list roles by it), taken from any other account holding
  it; and it is never staff nor superuser. django_mailman3 copies the addresses of
  the person's Mailman user back at login (an older address, say): the adapter drops
  them again after allauth's login signal.
- A list HyperKitty has not heard about from Mailman yet is private: HyperKitty
  creates it public at the first archived message and reads its real policy from
  Mailman only later, in a background task.
- allauth's adapters (``closed_account_adapter``, ``closed_social_account_adapter``):
  no sign-up, and no mail (no password reset; the directory verified the address).
- HyperKitty's REST API is closed to people (``closed_api``, a middleware): in Debian 12's
  HyperKitty (1.3.7) a message (``api/list/<list>/email/<hash>/``) and a thread answer
  without the membership check, so anyone could read a private list's post. Only
  the archiver's own endpoints (``api/mailman/``, key and loopback checked) stay.

Only django.apps is imported at the top: Django imports this module before its models
are ready.
"""

import re
from collections.abc import Callable
from functools import cache
from typing import Any

from django.apps import AppConfig


class MailmanWebRules(AppConfig):
    name = "mailman_web_rules"
    label = "mailman_web_rules"

    def ready(self) -> None:
        from django.db.models.signals import pre_save
        from django_auth_ldap.backend import LDAPBackend, populate_user
        from hyperkitty.models import MailingList

        populate_user.connect(_directory_account, sender=LDAPBackend, dispatch_uid="occupy-directory-account")
        pre_save.connect(_closed_until_known, sender=MailingList, dispatch_uid="occupy-closed-list")


def _directory_account(sender: type, user: Any, ldap_user: Any, **kwargs: Any) -> None:
    """The account as the directory describes it; called before django-auth-ldap saves it."""
    user.is_staff = user.is_superuser = False
    user.save()                                   # a first login's user has no id yet
    _keep_only_address(user)


def _keep_only_address(user: Any) -> None:
    from allauth.account.models import EmailAddress

    mail = (user.email or "").strip()
    EmailAddress.objects.filter(user=user).exclude(email__iexact=mail).delete()
    if not mail:
        return
    EmailAddress.objects.filter(email__iexact=mail).exclude(user=user).delete()
    address, _ = EmailAddress.objects.get_or_create(user=user, email=mail,
                                                    defaults={"verified": True, "primary": True})
    if not (address.verified and address.primary):
        address.verified = address.primary = True
        address.save()


def _closed_until_known(sender: type, instance: Any, **kwargs: Any) -> None:
    from hyperkitty.models import ArchivePolicy

    if instance._state.adding:
        instance.archive_policy = ArchivePolicy.private.value


@cache
def _adapters() -> tuple[type, type]:
    from allauth.account.adapter import DefaultAccountAdapter
    from allauth.socialaccount.adapter import DefaultSocialAccountAdapter

    class ClosedAccountAdapter(DefaultAccountAdapter):
        def is_open_for_signup(self, request: Any) -> bool:
            return False

        def send_mail(self, template_prefix: str, email: str, context: Any) -> None:
            return None

        def post_login(self, request: Any, user: Any, **kwargs: Any) -> Any:
            response = super().post_login(request, user, **kwargs)   # django_mailman3 syncs here
            if hasattr(user, "ldap_user"):                          # logged in through the directory
                _keep_only_address(user)
            return response

    class ClosedSocialAccountAdapter(DefaultSocialAccountAdapter):
        def is_open_for_signup(self, request: Any, sociallogin: Any) -> bool:
            return False

    return ClosedAccountAdapter, ClosedSocialAccountAdapter


def closed_account_adapter(request: Any = None) -> Any:
    """What allauth takes for its adapter class (it calls it with the request)."""
    return _adapters()[0](request)


def closed_social_account_adapter(request: Any = None) -> Any:
    return _adapters()[1](request)


# Any run of slashes counts as one, as a path resolver or a proxy may read it.
_PEOPLES_API = re.compile(r"/+hyperkitty/+api(?:/|$)(?!/*mailman/)")


def closed_api(get_response: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A middleware: 403 for HyperKitty's REST API but the archiver's endpoints."""
    from django.http import HttpResponseForbidden

    def middleware(request: Any) -> Any:
        if _PEOPLES_API.match(request.path_info):
            return HttpResponseForbidden("HyperKitty's API is closed here: read the archive's pages.")
        return get_response(request)
    return middleware
