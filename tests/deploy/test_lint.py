"""ansible-lint's production profile over every playbook and role."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PLAYBOOKS = Path(__file__).resolve().parents[2] / "playbooks"


def test_playbooks_pass_ansible_lint():
    result = subprocess.run(
        [str(Path(sys.executable).with_name("ansible-lint")), "--offline", "--nocolor",
         "--profile", "production"],
        cwd=PLAYBOOKS, capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
