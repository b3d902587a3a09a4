"""The working groups' lists, run inside Mailman by the mailman_server role:

    mailman shell -r occupy_lists.ensure DOMAIN LISTS_JSON CHECK_ONLY

Makes sure the domain and every list in LISTS_JSON ([{"name", "display_name"}]) exist,
creating only what is missing, and that each list is closed: its archive private (its
members only read it, through HyperKitty) and nobody subscribed without its moderators
(a self-subscription from Postorius' list page would open the archive); the worker's
mailman_members module keeps the lists it touches so too. Prints one JSON line
{"changed": [what was (or, CHECK_ONLY "true", would be) done]}. Works on the database,
with the server stopped or running; Mailman commits when the function returns without
an error.
"""

import json

from mailman.app.lifecycle import create_list
from mailman.interfaces.archiver import ArchivePolicy
from mailman.interfaces.domain import IDomainManager
from mailman.interfaces.listmanager import IListManager
from mailman.interfaces.mailinglist import SubscriptionPolicy
from zope.component import getUtility

MODERATED = (SubscriptionPolicy.moderate, SubscriptionPolicy.confirm_then_moderate)


def ensure(domain, lists_json, check_only="false"):
    dry_run = check_only == "true"
    changed = []
    domains = getUtility(IDomainManager)
    if domains.get(domain) is None:
        if not dry_run:
            domains.add(domain)
        changed.append(f"domain {domain} created")
    lists = getUtility(IListManager)
    for wanted in json.loads(lists_json):
        address = f"{wanted['name']}@{domain}"
        mailing_list = lists.get(address)
        if mailing_list is None:
            if not dry_run:
                mailing_list = create_list(address)
                mailing_list.display_name = wanted["display_name"]
                mailing_list.archive_policy = ArchivePolicy.private
                mailing_list.subscription_policy = SubscriptionPolicy.moderate
            changed.append(f"list {address} created")
            continue
        # A working group's past is its members' only: an existing list's other settings
        # are its owners' business, its archive's privacy and who joins it are not.
        if mailing_list.archive_policy is not ArchivePolicy.private:
            if not dry_run:
                mailing_list.archive_policy = ArchivePolicy.private
            changed.append(f"list {address} archive made private")
        if mailing_list.subscription_policy not in MODERATED:
            if not dry_run:
                mailing_list.subscription_policy = SubscriptionPolicy.moderate
            changed.append(f"list {address} subscriptions made moderated")
    print(json.dumps({"changed": changed}))
