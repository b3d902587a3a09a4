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
# The release the upgrade starts from: the oldest main an occupation may be running that
# this checkout must upgrade in place. Move it forward when upgrades from it stop being promised.
UPGRADE_FROM = "1f4a5e3f0988929c50c8e380dfb4a5bc50790e33"
RECAP = re.compile(r"^\S+\s*:\s*ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def write_vault(folder: Path, passwords: dict[str, str]) -> None:
    vault = folder / "group_vars" / "all" / "vault.yml"
    vault.parent.mkdir(parents=True, exist_ok=True)
    vault.touch(mode=0o600)
    vault.write_text(yaml.safe_dump(passwords))


def random_secrets(*names: str) -> dict[str, str]:
    return {name: secrets.token_urlsafe(32) for name in names}


def release_checkout(revision: str, folder: Path) -> Path:
    """The tree of `revision` of this repository, unpacked into folder (a fresh clone has it)."""
    folder.mkdir()
    archive = subprocess.run(["git", "-C", str(CHECKOUT), "archive", "--format=tar", revision],
                             capture_output=True, check=False)
    assert archive.returncode == 0, (
        f"the upgrade starts from {revision}, which this clone lacks (a shallow clone?): "
        f"{archive.stderr.decode(errors='replace')}")
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    return folder


def run_site(inventory: Path, log: Path, *options: str, playbooks: Path = PLAYBOOKS) -> dict:
    # The controller imports the package of the checkout it deploys from (an earlier
    # release's own, not this one's), as a controller with that checkout installed does.
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0",
           "PYTHONPATH": str(playbooks.parent)}
    with open(log, "w") as output:
        result = subprocess.run(
            [str(Path(sys.executable).with_name("ansible-playbook")), "-i", str(inventory), *options,
             "site.yml"],
            cwd=playbooks, stdout=output, stderr=subprocess.STDOUT, env=env, check=False,
        )
    text = log.read_text()
    recaps = [tuple(map(int, found)) for found in RECAP.findall(text)]
    if result.returncode != 0 or not recaps:
        raise AssertionError(f"site.yml failed (rc {result.returncode}); the end of {log}:\n{text[-6000:]}")
    return {"changed": sum(changed for changed, _, _ in recaps),
            "failed": sum(unreachable + failed for _, unreachable, failed in recaps), "log": text}
