"""Every module in playbooks/library documents itself in a form ansible-doc reads:
DOCUMENTATION (with the batch option from the shared doc fragment), EXAMPLES that call
it, and RETURN; and what it documents is what its argument_spec takes."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

PLAYBOOKS = Path(__file__).resolve().parents[1] / "playbooks"
LIBRARY = PLAYBOOKS / "library"
MODULES = sorted(path.stem for path in LIBRARY.glob("*.py"))
# What an option's documentation and its argument_spec entry must agree on.
SPEC_KEYS = ("type", "required", "default", "no_log", "elements", "choices")


def ansible_doc(module: str) -> dict:
    # ansible.cfg next to the playbooks names the doc fragments' folder.
    result = subprocess.run(
        [str(Path(sys.executable).with_name("ansible-doc")), "--json", module],
        cwd=PLAYBOOKS, env={**os.environ, "ANSIBLE_CONFIG": str(PLAYBOOKS / "ansible.cfg")},
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0 and f'"{module}"' in result.stdout, result.stderr[-2000:]
    assert "[WARNING]" not in result.stderr, result.stderr[-2000:]
    return json.loads(result.stdout)[module]


def own_documentation(module: str) -> dict:
    """The module's DOCUMENTATION as written in it, before ansible-doc adds the fragments."""
    tree = ast.parse((LIBRARY / f"{module}.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and [target.id for target in node.targets] == ["DOCUMENTATION"]:
            return yaml.safe_load(ast.literal_eval(node.value))
    raise AssertionError(f"{module} has no DOCUMENTATION")


def argument_spec(module: str) -> dict:
    """The literal argument_spec the module hands AnsibleModule, read from its source."""
    tree = ast.parse((LIBRARY / f"{module}.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "AnsibleModule":
            for keyword in node.keywords:
                if keyword.arg == "argument_spec":
                    return ast.literal_eval(keyword.value)
    raise AssertionError(f"{module} calls no AnsibleModule(argument_spec=...)")


@pytest.mark.parametrize("module", MODULES)
def test_ansible_doc_reads_the_documentation_examples_and_return(module):
    documented = ansible_doc(module)
    assert documented["doc"]["short_description"] and documented["doc"]["description"]
    # Every module takes the batch as a file it reads itself: volunteer data is never a
    # template. The option comes from the shared fragment, not a copy in each module.
    own = own_documentation(module)
    assert "volunteer_batch" in own["extends_documentation_fragment"] and "batch_file" not in own["options"]
    assert documented["doc"]["options"]["batch_file"]["type"] == "path"
    examples = yaml.safe_load(documented["examples"])
    assert isinstance(examples, list) and examples, "EXAMPLES holds at least one task"
    for task in examples:
        assert task.get("name") and module in task, f"an example task that is named and calls {module}"
        assert set(task[module]) <= set(documented["doc"]["options"]), "examples use documented options"
    returned = documented["return"]
    assert {"service", "volunteers"} <= set(returned), "RETURN documents what the worker reads"
    for name, value in returned.items():
        assert value.get("description") and value.get("returned") and value.get("type"), name


@pytest.mark.parametrize("module", MODULES)
def test_the_documented_options_are_the_argument_spec(module):
    options = ansible_doc(module)["doc"]["options"]
    spec = argument_spec(module)
    assert set(options) == set(spec)
    for name, entry in spec.items():
        documented = options[name]
        for key in SPEC_KEYS:
            want, have = entry.get(key), documented.get(key)
            if key == "required":
                want, have = bool(want), bool(have)
            if key == "default" and isinstance(want, float):
                have = float(have)
            assert have == want, f"{module} {name}: {key} {have!r} in DOCUMENTATION, {want!r} in the code"
