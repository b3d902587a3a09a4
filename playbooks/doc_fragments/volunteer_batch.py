"""The option every batch module shares (ansible-doc joins it to each module's own).

Found through doc_fragment_plugins in playbooks/ansible.cfg; a module names it with
`extends_documentation_fragment: [volunteer_batch]`.
"""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  batch_file:
    description: >-
      the worker's batch, a JSON file C({"volunteers": [{uid, action, mail, display_name,
      previous_mail, groups: [{slug, name, group, group_dn, list_name, wiki_namespace,
      redmine_project, parent_redmine_project, coordinator}]}]}), every name of a working
      group or of a team inside one as the catalogue and the directory's layout give it (a
      team's slug is C(<wg>.<team>), its C(parent_redmine_project) its working group's
      project, null for a working group); C(coordinator) is true when the volunteer is an owner
      of the group's LDAP group when the worker writes the batch (a grant gives a
      coordinator's roles or takes them, a revoke takes membership and roles);
      C(previous_mail), only on a grant after the volunteer changed their address, is the
      former address the services may still know them by (null otherwise); C(forget), true
      only on the revoke of a deleted account, asks the services to delete what they hold
      of the person, not only to take their access. C(preview), true only in an approval
      preview's check-mode run, marks a grant to a registration request the approval would
      make an account of: the services cannot find the person yet (the directory check
      looks for the request; the wiki asks what the groups would give). A complete batch (a reconciliation)
      also has C(complete: {groups: [...]}), every working group of the catalogue and every
      team the directory holds, with their names: its volunteers are then every account of
      the directory (a grant of all their groups for an active account, a revoke of every
      group for any other), and anyone
      else found in those groups' lists, namespaces or projects loses what they hold there,
      reported under the result's C(extra) by the service's own name for them; read by the
      module itself, so what volunteers typed is never templated by Ansible
    type: path
    required: true
"""
