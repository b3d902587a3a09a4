"""Every module in playbooks/library documents itself in a form ansible-doc reads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

LIBRARY = Path(__file__).resolve().parents[1] / "playbooks" / "library"


@pytest.mark.parametrize("module", sorted(path.stem for path in LIBRARY.glob("*.py")))
def test_ansible_doc_reads_the_documentation(module):
    result = subprocess.run(
        [str(Path(sys.executable).with_name("ansible-doc")), "-M", str(LIBRARY), "--json", module],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0 and f'"{module}"' in result.stdout, result.stderr[-2000:]
    documented = json.loads(result.stdout)[module]
    assert documented["examples"].strip() and documented["return"]["volunteers"]
    # Every module takes the batch as a file it reads itself: volunteer data is never a template.
    assert documented["doc"]["options"]["batch_file"]["type"] == "path"
