"""Every role says what it takes in meta/argument_specs.yml, and Ansible checks it.

Ansible validates a role's variables against that file when the role starts, in
site.yml's deployments and in the worker's volunteer_access.yml runs, so a spec that
disagrees with the inventory stops a deployment. Here: every variable a role defines
in defaults/main.yml or reads from the inventory is described; and a real
ansible-playbook run validates every deploy role's spec, as the role's start would,
against inventory/example with a vault of the right shape.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import jinja2
import pytest
import yaml
from jinja2 import meta

CHECKOUT = Path(__file__).resolve().parents[1]
PLAYBOOKS = CHECKOUT / "playbooks"
ROLES = sorted(path.name for path in (PLAYBOOKS / "roles").iterdir() if (path / "tasks").is_dir())
# The roles the worker's volunteer_access.yml runs; every other role is site.yml's.
ACCESS_ROLES = {"directory_check", "mailing_lists", "wiki", "redmine"}
DEPLOY_ROLES = [role for role in ROLES if role not in ACCESS_ROLES]
EXAMPLE = CHECKOUT / "inventory" / "example"
VAULT_EXAMPLE = CHECKOUT / "inventory" / "vault.example.yml"

# What Ansible itself provides, and the functions templates call.
ANSIBLE_NAMES = {"inventory_hostname", "groups", "hostvars", "playbook_dir", "ansible_check_mode",
                 "ansible_facts", "ansible_managed", "ansible_playbook_python", "item", "omit",
                 "lookup", "query", "range"}
CONDITIONALS = {"when", "that", "changed_when", "failed_when", "until"}


def spec_of(role: str) -> dict:
    return yaml.safe_load((PLAYBOOKS / "roles" / role / "meta" / "argument_specs.yml").read_text())[
        "argument_specs"]


def role_file(role: str, folder: str) -> dict:
    path = PLAYBOOKS / "roles" / role / folder / "main.yml"
    return (yaml.safe_load(path.read_text()) or {}) if path.exists() else {}


@pytest.mark.parametrize("role", ROLES)
def test_every_default_is_described_with_its_type_and_value(role):
    entry_points = spec_of(role)
    options = entry_points["main"]["options"]
    defaults = role_file(role, "defaults")
    assert set(defaults) <= set(options), f"not in {role}'s spec: {sorted(set(defaults) - set(options))}"
    for name, value in defaults.items():
        option = options[name]
        assert not option.get("required"), f"{name} has a default: it is not required"
        if isinstance(value, str) and "{{" in value:
            # Worked out from other variables: the spec says how, in words (a spec's text
            # is templated too, so it never holds the expression).
            assert "default" not in option, f"{name}: its default is defaults/main.yml's expression"
        else:
            assert option.get("default") == value, f"{name}: the spec's default is not defaults/main.yml's"
    for entry_point in entry_points.values():
        assert entry_point["short_description"]
        check_options(role, entry_point["options"])


OPTION_KEYS = {"type", "required", "default", "description", "no_log", "elements", "choices", "options"}


def check_options(role: str, options: dict) -> None:
    for name, option in options.items():
        assert set(option) <= OPTION_KEYS, f"{role} {name}: unknown keys {sorted(set(option) - OPTION_KEYS)}"
        assert option.get("type") and option.get("description"), f"{role} {name}: a type and a description"
        assert "\n" not in option["description"] and "{{" not in option["description"], name
        check_options(role, option.get("options") or {})


def test_ansible_doc_reads_every_role_spec():
    result = subprocess.run(
        [str(Path(sys.executable).with_name("ansible-doc")), "-t", "role", "-r", "roles", "--json", *ROLES],
        cwd=PLAYBOOKS, capture_output=True, text=True, check=False,
        env={**os.environ, "ANSIBLE_CONFIG": str(PLAYBOOKS / "ansible.cfg")})
    assert result.returncode == 0, result.stderr[-2000:]
    documented = json.loads(result.stdout)
    assert {role: sorted(documented[role]["entry_points"]) for role in ROLES} == {
        role: sorted(spec_of(role)) for role in ROLES}


@pytest.mark.parametrize("role", ROLES)
def test_every_variable_a_role_reads_from_elsewhere_is_described_and_nothing_else(role):
    described = {name for entry_point in spec_of(role).values() for name in entry_point["options"]}
    used, read = variables_read(PLAYBOOKS / "roles" / role)
    assert read <= described, f"{role} reads {sorted(read - described)}, which its spec does not describe"
    stale = described - used - set(role_file(role, "defaults"))
    assert not stale, f"{role}'s spec describes {sorted(stale)}, which the role no longer uses"


# What the role including an entry point other than main hands it, as site.yml's roles do.
ENTRY_POINT_VARS = {
    ("nginx", "site"): {"nginx_site_name": "occupy-wiki", "nginx_site_hostname": "{{ wiki_hostname }}",
                        "nginx_site_locations": "dokuwiki-locations.conf.j2"},
    ("backup", "restore"): {"backup_restore_from": "/root/restore/2026-01-01T000000Z"},
}


def test_the_example_inventory_passes_every_deploy_roles_argument_spec(tmp_path):
    """The validation each deploy role's start runs, on localhost, with inventory/example and a vault:
    a spec whose type or requirement the inventory does not meet fails here, not in a deployment."""
    inventory = example_inventory(tmp_path / "inventory")
    roles = tmp_path / "roles"
    checks = []
    for role in DEPLOY_ROLES:
        entry_points = list(spec_of(role))
        wrapper = checking_role(roles, role, entry_points)
        for entry_point in entry_points:
            checks.append({"name": f"Check {role}'s arguments ({entry_point})",
                           "ansible.builtin.include_role": {"name": wrapper, "tasks_from": entry_point},
                           "vars": ENTRY_POINT_VARS.get((role, entry_point), {})})
    playbook = tmp_path / "check.yml"
    playbook.write_text(yaml.safe_dump([{
        "name": "Validate the deploy roles' arguments", "hosts": "all",
        "gather_facts": True, "gather_subset": ["min"], "tasks": checks}], sort_keys=False))
    result = subprocess.run(
        [str(Path(sys.executable).with_name("ansible-playbook")), "-i", str(inventory), str(playbook)],
        cwd=tmp_path, capture_output=True, text=True, check=False,
        env={**os.environ, "ANSIBLE_CONFIG": str(PLAYBOOKS / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
             "ANSIBLE_FORCE_COLOR": "0"},
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    validated = result.stdout.count("Validating arguments against arg spec")
    assert validated == len(checks), result.stdout[-6000:]


def example_inventory(folder: Path) -> Path:
    """inventory/example as an occupation fills it in: a vault of the right shape, and the
    one host reached locally (this machine, no ssh, no become)."""
    shutil.copytree(EXAMPLE, folder)
    names = yaml.safe_load(VAULT_EXAMPLE.read_text())
    vault = folder / "group_vars" / "all" / "vault.yml"
    vault.touch(mode=0o600)
    vault.write_text(yaml.safe_dump({name: secrets.token_urlsafe(32) for name in names}))
    hosts = yaml.safe_load((folder / "hosts.yml").read_text())
    (folder / "host_vars").mkdir()
    for host in {host for group in hosts["all"]["children"].values() for host in group["hosts"]}:
        (folder / "host_vars" / f"{host}.yml").write_text(yaml.safe_dump(
            {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}))
    return folder


def checking_role(roles: Path, role: str, entry_points: list[str]) -> str:
    """A role with the real one's argument spec and defaults whose tasks do nothing: including
    it runs the very validation the real role's start runs, and nothing else."""
    wrapper = roles / f"check_{role}"
    for folder in ("meta", "defaults", "tasks"):
        (wrapper / folder).mkdir(parents=True)
    real = PLAYBOOKS / "roles" / role
    (wrapper / "meta" / "argument_specs.yml").symlink_to(real / "meta" / "argument_specs.yml")
    (wrapper / "defaults" / "main.yml").symlink_to(real / "defaults" / "main.yml")
    for entry_point in entry_points:
        (wrapper / "tasks" / f"{entry_point}.yml").write_text(yaml.safe_dump([{
            "name": f"The arguments of {role} ({entry_point}) are valid",
            "ansible.builtin.debug": {"msg": "validated"}}]))
    return wrapper.name


# --- What a role reads from elsewhere ------------------------------------------------------


class _AnyName(dict):
    """Every filter and test exists: only the variables matter here."""

    def __contains__(self, name):
        return True

    def __getitem__(self, name):
        return _nothing

    def get(self, name, default=None):
        return _nothing


def _nothing(*args, **kwargs):
    return None


JINJA = jinja2.Environment(autoescape=False)  # noqa: S701 (parsed, never rendered)
JINJA.filters = _AnyName()
JINJA.tests = _AnyName()


def variables_read(role: Path) -> tuple[set[str], set[str]]:
    """Variables the role's defaults, vars, tasks, handlers and templates use, and those of
    them it does not set itself."""
    defined = set(role_file(role.name, "defaults")) | set(role_file(role.name, "vars"))
    used: set[str] = set()
    for folder in ("defaults", "vars"):
        for text in _strings(role_file(role.name, folder)):
            used |= _undeclared(text)
    for path in sorted((role / "tasks").glob("*.yml")) + sorted((role / "handlers").glob("*.yml")):
        for task in _tasks(yaml.safe_load(path.read_text())):
            defined |= set(task.get("vars") or {}) | ({task["register"]} if "register" in task else set())
            defined |= {(task.get("loop_control") or {}).get("loop_var")} - {None}
            facts = task.get("ansible.builtin.set_fact")
            defined |= set(facts) if isinstance(facts, dict) else set()
            for text in _strings({key: value for key, value in task.items()
                                  if key not in ("block", "rescue", "always")}):
                used |= _undeclared(text)
    for path in sorted((role / "templates").glob("*.j2")):
        used |= _undeclared(path.read_text())
    return used - ANSIBLE_NAMES, used - defined - ANSIBLE_NAMES


def _undeclared(text: str) -> set[str]:
    with warnings.catch_warnings():
        # A regex such as '\.' in a template string: Ansible takes it, Jinja only warns.
        warnings.simplefilter("ignore", DeprecationWarning)
        return meta.find_undeclared_variables(JINJA.parse(text))


def _strings(node, conditional: bool = False):
    """Every string in a task or vars file, a conditional one as the expression it is."""
    if isinstance(node, str):
        yield "{{ " + node + " }}" if conditional and "{{" not in node else node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(value, key in CONDITIONALS)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value, conditional)


def _tasks(node):
    for task in node or []:
        yield task
        for key in ("block", "rescue", "always"):
            yield from _tasks(task.get(key))
