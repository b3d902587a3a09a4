"""A run's targets table and pictures into docs/bench/ and README.md, so the figures the
README shows come from a run, with its commit and date, and are never typed by hand.

README.md holds the published part between two marker comments; everything between them
is replaced. docs/bench/ gets the pictures, the targets table (targets.md) and the run's
results.json; a picture of an earlier run that this one did not draw is removed.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from figures import targets_table

BEGIN = "<!-- bench results: written by `bench/run.py --publish`, do not edit by hand -->"
END = "<!-- end of bench results -->"
DOCS = Path("docs") / "bench"


def published_text(results: dict, pictures: list[str]) -> str:
    """The README's part: where the figures come from, the targets, the pictures."""
    kind = "`bench/run.py --quick` (fewer, smaller runs)" if results.get("quick") else "`bench/run.py`"
    parts = ", ".join(results.get("parts", []))
    lines = [f"From {kind} at commit `{results.get('commit', 'unknown')}`, parts {parts}; "
             f"{results['heading']}.", "",
             targets_table(results["targets"]) if results.get("targets") else "No target was measured."]
    lines += ["", *(f"![{name.removesuffix('.svg')}]({(DOCS / name).as_posix()})" for name in pictures)]
    lines += ["", f"Every figure of that run: [{(DOCS / 'results.json').as_posix()}]"
                  f"({(DOCS / 'results.json').as_posix()})."]
    return "\n".join(lines)


def publish(results_path: Path, checkout: Path) -> list[Path]:
    """Copy the run in `results_path` (and its pictures beside it) into the checkout's
    docs/bench/ and README.md; returns the files written."""
    results = json.loads(results_path.read_text())
    pictures = [name for name in results.get("pictures", []) if (results_path.parent / name).is_file()]
    readme = checkout / "README.md"
    text = readme.read_text()
    if text.count(BEGIN) != 1 or text.count(END) != 1 or text.index(BEGIN) > text.index(END):
        raise SystemExit(f"{readme} needs one pair of markers, in this order:\n{BEGIN}\n{END}")
    folder = checkout / DOCS
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.svg"):
        if stale.name not in pictures:
            stale.unlink()
    written = [Path(shutil.copyfile(results_path.parent / name, folder / name)) for name in pictures]
    written.append(Path(shutil.copyfile(results_path, folder / "results.json")))
    table = folder / "targets.md"
    table.write_text(targets_table(results.get("targets", [])) + "\n")
    before, rest = text.split(BEGIN)
    after = rest.split(END, 1)[1]
    readme.write_text(f"{before}{BEGIN}\n{published_text(results, pictures)}\n{END}{after}")
    return [*written, table, readme]
