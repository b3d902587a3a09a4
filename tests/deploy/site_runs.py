"""site.yml runs for the deploy tests: the checkout's paths, secrets, the run and its recap."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import yaml

CHECKOUT = Path(__file__).resolve().parents[2]
PLAYBOOKS = CHECKOUT / "playbooks"
EXAMPLE = CHECKOUT / "inventory" / "example"
RECAP = re.compile(r"^\S+\s*:\s*ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def write_vault(folder: Path, passwords: dict[str, str]) -> None:
    vault = folder / "group_vars" / "all" / "vault.yml"
    vault.parent.mkdir(parents=True, exist_ok=True)
    vault.touch(mode=0o600)
    vault.write_text(yaml.safe_dump(passwords))


def random_secrets(*names: str) -> dict[str, str]:
    return {name: secrets.token_urlsafe(32) for name in names}


def run_site(inventory: Path, log: Path, *options: str) -> dict:
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"}
    with open(log, "w") as output:
        result = subprocess.run(
            [str(Path(sys.executable).with_name("ansible-playbook")), "-i", str(inventory), *options,
             "site.yml"],
            cwd=PLAYBOOKS, stdout=output, stderr=subprocess.STDOUT, env=env, check=False,
        )
    text = log.read_text()
    recaps = [tuple(map(int, found)) for found in RECAP.findall(text)]
    if result.returncode != 0 or not recaps:
        raise AssertionError(f"site.yml failed (rc {result.returncode}); the end of {log}:\n{text[-6000:]}")
    return {"changed": sum(changed for changed, _, _ in recaps),
            "failed": sum(unreachable + failed for _, unreachable, failed in recaps), "log": text}
