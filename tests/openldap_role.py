"""What the openldap deploy role sets in cn=config, without a server: its tasks run by
ansible-playbook on localhost, community.general's LDAP modules replaced by stand-ins
that record the arguments each task gives them (templating, loops, `when` and the
role's filter plugin all run as in a deploy), and its first configuration rendered
by Ansible's template module.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

CHECKOUT = Path(__file__).resolve().parent.parent
ROLES = CHECKOUT / "playbooks" / "roles"
BOOTSTRAP_TEMPLATE = ROLES / "openldap" / "templates" / "bootstrap-config.ldif.j2"
LDAP_MODULES = ("ldap_attrs", "ldap_entry", "ldap_passwd")

# An action plugin named as community.general's LDAP modules: Ansible runs it on the
# controller in place of the module, with the task's arguments templated; it records
# them and changes nothing. (The collection needs a module file of the name too.)
STAND_IN = '''import json
import os

from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):
    def run(self, tmp=None, task_vars=None):
        call = {"module": os.path.basename(__file__)[:-3], **self._task.args}
        with open(os.environ["OPENLDAP_ROLE_CALLS"], "a") as calls:
            calls.write(json.dumps(call) + "\\n")
        return {"changed": False}
'''


@dataclass(frozen=True)
class RoleRendering:
    calls: list[dict]          # each LDAP module call, in order: module, dn, attributes...
    bootstrap_ldif: str        # templates/bootstrap-config.ldif.j2, rendered

    def attributes(self, dn: str) -> dict:
        """What the role's calls set on `dn`, merged in order (later calls win)."""
        merged: dict = {}
        for call in self.calls:
            if call["dn"] == dn and "attributes" in call:
                merged.update(call["attributes"])
        return merged

    def entry(self, dn: str) -> dict:
        """The ldap_entry call adding `dn`."""
        (call,) = [call for call in self.calls if call["module"] == "ldap_entry" and call["dn"] == dn]
        return call

    def entries_under(self, parent: str) -> list[dict]:
        return [call for call in self.calls
                if call["module"] == "ldap_entry" and call["dn"].endswith("," + parent)]


def render_role(folder: Path, base_dn: str, organisation: str = "Occupy Test") -> RoleRendering:
    """Run the role's config.yml and tree.yml tasks, and its bootstrap template, for one server."""
    plugins = folder / "collections" / "ansible_collections" / "community" / "general" / "plugins"
    for kind, text in (("action", STAND_IN), ("modules", "")):
        (plugins / kind).mkdir(parents=True)
        for name in LDAP_MODULES:
            (plugins / kind / f"{name}.py").write_text(text)
    # playbook_dir/../provisioner, as in the checkout: the role finds the schema there.
    (folder / "playbooks").mkdir()
    (folder / "provisioner").symlink_to(CHECKOUT / "provisioner")
    calls_file, bootstrap = folder / "calls.jsonl", folder / "bootstrap.ldif"
    secret = "not a real password, 24+"
    play = [{
        "name": "Render the openldap role", "hosts": "localhost", "gather_facts": False,
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                 "ldap_base_dn": base_dn, "occupation_name": organisation,
                 "occupation_domain": "occupy.example",
                 **{f"vault_ldap_{name}_password": secret for name in ("portal", "wiki", "redmine")},
                 "vault_wiki_robot_password": secret},
        "tasks": [
            {"name": "Configure slapd", "ansible.builtin.include_role": {
                "name": "openldap", "tasks_from": "config.yml", "public": True}},
            {"name": "Create the tree", "ansible.builtin.include_role": {
                "name": "openldap", "tasks_from": "tree.yml"}},
            {"name": "Write the first configuration", "ansible.builtin.template": {
                "src": str(BOOTSTRAP_TEMPLATE), "dest": str(bootstrap), "mode": "0600"}},
        ],
    }]
    playbook = folder / "playbooks" / "render.yml"
    playbook.write_text(yaml.safe_dump(play, sort_keys=False))
    (folder / "ansible.cfg").write_text("[defaults]\n")
    env = {**os.environ, "ANSIBLE_CONFIG": str(folder / "ansible.cfg"), "ANSIBLE_ROLES_PATH": str(ROLES),
           "ANSIBLE_COLLECTIONS_PATH": str(folder / "collections"),
           "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false", "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_LOCAL_TEMP": str(folder / "tmp"), "OPENLDAP_ROLE_CALLS": str(calls_file),
           "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}
    result = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,",
                             str(playbook)], cwd=folder, env=env, capture_output=True, text=True,
                            timeout=300, check=False)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    calls = [json.loads(line) for line in calls_file.read_text().splitlines()]
    return RoleRendering(calls=calls, bootstrap_ldif=bootstrap.read_text())
