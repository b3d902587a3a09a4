"""The names site.yml's roles give what the portal also names: from the portal's own code.

A working group's LDAP group, list, wiki namespace and Redmine project come from its
slug through provisioner/catalogue.py, and every DN of the tree from
provisioner/directory/layout.py. The roles read them through these filters instead of
building `wg-<slug>` or `ou=people,<base>` themselves, so a deployed wiki, list server
or Redmine names things as the portal and its worker do.

The controller has the provisioner package (docs/deploy.md installs the checkout with
its deploy extras); it is imported when a filter runs, not when Ansible loads this
file, so that playbook runs that use no filter of it never import the portal.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError


def _provisioner():
    try:
        from provisioner.catalogue import CatalogueError, load_catalogue
        from provisioner.directory.layout import SYSADMINS_GROUP, Layout
    except ImportError as error:
        raise AnsibleFilterError(
            f"the controller's Python cannot import the provisioner package ({error}): install the "
            "checkout where Ansible runs, pip install -e '.[deploy]' (docs/deploy.md)") from None
    return CatalogueError, load_catalogue, SYSADMINS_GROUP, Layout


def occupy_working_groups(slugs: list[str], catalogue_file: str) -> list[dict]:
    """The working groups of these slugs, in their order, with every name the catalogue gives."""
    catalogue_error, load_catalogue, _, _ = _provisioner()
    try:
        catalogue = load_catalogue(catalogue_file)
    except catalogue_error as error:
        raise AnsibleFilterError(str(error)) from None
    unknown = [slug for slug in slugs if slug not in catalogue]
    if unknown:
        raise AnsibleFilterError(f"working_groups names {', '.join(map(str, unknown))}, which the "
                                 f"catalogue {catalogue_file} does not hold")
    return [{"slug": group.slug, "name": group.name, "description": group.description,
             "group": group.group, "list_name": group.list_name,
             "wiki_namespace": group.wiki_namespace, "redmine_project": group.redmine_project}
            for group in map(catalogue.get, slugs)]


def occupy_layout(base_dn: str) -> dict:
    """The directory's folders and its sysadmins' group, as the portal places them."""
    _, _, sysadmins_group, layout_of = _provisioner()
    layout = layout_of(base_dn)
    return {"people": layout.people, "groups": layout.groups, "services": layout.services,
            "sysadmins_group": sysadmins_group}


def occupy_portal_settings(settings: dict) -> dict:
    """The inventory's `portal_settings`, checked as the portal would check them at start:
    every name one of provisioner/config.py's settings, no secret (those come from the
    vault through the role's own variables), each value of its setting's type."""
    try:
        from provisioner.config import BY_NAME, ConfigError, convert
    except ImportError as error:
        raise AnsibleFilterError(f"the controller's Python cannot import the provisioner package "
                                 f"({error}): pip install -e '.[deploy]' (docs/deploy.md)") from None
    if not isinstance(settings, dict):
        raise AnsibleFilterError("portal_settings must be a mapping of setting names to values")
    unknown = sorted(str(name) for name in settings if name not in BY_NAME)
    if unknown:
        raise AnsibleFilterError(f"portal_settings names {', '.join(unknown)}: no such setting "
                                 "(see provisioner/config.py)")
    secret = sorted(name for name in settings if BY_NAME[name].secret)
    if secret:
        raise AnsibleFilterError(f"portal_settings names the secret {', '.join(secret)}: give it "
                                 "through the role's vault variable instead")
    try:
        return {name: convert(BY_NAME[name], value, f"portal_settings.{name}")
                for name, value in sorted(settings.items())}
    except ConfigError as error:
        raise AnsibleFilterError(str(error)) from None


class FilterModule:
    def filters(self):
        return {"occupy_working_groups": occupy_working_groups, "occupy_layout": occupy_layout,
                "occupy_portal_settings": occupy_portal_settings}
