"""The batch modules of playbooks/library imported into the test's process, to call their
classes directly against the real services (for many inputs, where a playbook run each
would take seconds). Their `ansible.module_utils.volunteer_batch` import is resolved to
playbooks/module_utils, as Ansible does when it ships a module."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

PLAYBOOKS = Path(__file__).resolve().parents[1] / "playbooks"


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def library_module(name: str) -> ModuleType:
    if "ansible.module_utils.volunteer_batch" not in sys.modules:
        _load("ansible.module_utils.volunteer_batch", PLAYBOOKS / "module_utils" / "volunteer_batch.py")
    return _load(f"playbooks_library_{name}", PLAYBOOKS / "library" / f"{name}.py")
