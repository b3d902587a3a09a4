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
      groups: [{slug, name, group, group_dn, list_name, wiki_namespace, redmine_project}]}]}),
      every name of a working group as the catalogue and the directory's layout give it;
      read by the module itself, so what volunteers typed is never templated by Ansible
    type: path
    required: true
"""
