"""The lists' archives in HyperKitty, as Mailman says they are; run by the mailman_web role:

    django-admin shell -c 'import occupy_archives; occupy_archives.sync(CHECK_ONLY)'

HyperKitty learns of a list at its first archived post, and reads a list's archive
policy from Mailman only when a post arrives (in a background task): a list made
private in Mailman stays public in HyperKitty until its next post. This gives HyperKitty
every list of Mailman with the policy Mailman has, now.
Prints one JSON line {"changed": [what was (or, CHECK_ONLY "true", would be) done]}.
"""

import json

from django_mailman3.lib.mailman import get_mailman_client
from hyperkitty.models import ArchivePolicy, MailingList


def sync(check_only="false"):
    dry_run = check_only == "true"
    changed = []
    for mailman_list in get_mailman_client().get_lists():
        name = mailman_list.fqdn_listname
        policy = ArchivePolicy[mailman_list.settings["archive_policy"]].value
        archive = MailingList.objects.filter(name=name).first()
        if archive is None:
            changed.append(f"{name} added")
            if not dry_run:
                # Created with Mailman's policy at once, never with the model's default (public).
                archive = MailingList.objects.create(name=name, archive_policy=policy)
                archive.update_from_mailman()
        elif archive.archive_policy != policy:
            changed.append(f"{name} archive made {mailman_list.settings['archive_policy']}")
            if not dry_run:
                archive.update_from_mailman()
    print(json.dumps({"changed": changed}))
