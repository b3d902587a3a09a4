"""The benchmark runner: runs the parts asked for, prints one table, writes it as JSON.

    .venv/bin/python bench/run.py                       # everything (make bench)
    .venv/bin/python bench/run.py --only directory,portal --quick

Parts: directory (approvals/s: layer, raw ldap3, ldapmodify), portal (gunicorn under
load), provisioning (one playbook run per batch vs one per volunteer), scale (the run for
100, 1000 and 10,000 volunteers, with the worker's memory), services (through Mailman,
DokuWiki and Redmine against their bare REST calls, with the worker's memory), login
(wrong passwords for unknown names against existing accounts), faults (a batch while slapd,
Mailman, Redmine and the worker are each killed once: provisioned exactly once, and the
time the faults added).
--quick runs fewer and smaller rounds, to try a change; its figures are not for the README.
After the parts, the pictures (pictures.py) go next to the JSON.

    .venv/bin/python bench/run.py --publish             # the JSON's targets and pictures into README

--publish runs no part: it copies the last results' targets table and pictures into
docs/bench/ and README.md (publish.py).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from figures import table, targets_table
from pictures import draw
from publish import publish

PARTS = ("directory", "portal", "provisioning", "scale", "services", "login", "faults")
CHECKOUT = Path(__file__).resolve().parent.parent
RESULTS = CHECKOUT / "var" / "bench" / "results.json"


def arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(PARTS),
                        help=f"comma-separated parts to run, of {', '.join(PARTS)} (default: all)")
    parser.add_argument("--quick", action="store_true", help="fewer, smaller runs")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"the JSON file (default: {RESULTS})")
    parser.add_argument("--publish", action="store_true",
                        help="run no part: put the JSON's targets and pictures in docs/bench/, README.md")
    options = parser.parse_args(argv)
    options.parts = [part.strip() for part in options.only.split(",") if part.strip()]
    if unknown := [part for part in options.parts if part not in PARTS]:
        parser.error(f"no such part: {', '.join(unknown)} (parts: {', '.join(PARTS)})")
    return options


def main(argv: list[str]) -> None:
    options = arguments(argv)
    if options.publish:
        for path in publish(options.output, CHECKOUT):
            print(f"Written: {path}")
        return
    started, rows, details, part_seconds = time.monotonic(), [], {}, {}
    options.commit = commit()       # the code that runs, whatever is committed meanwhile
    for part in options.parts:
        part_started = time.monotonic()
        print(f"{part}...", file=sys.stderr, flush=True)
        part_rows, details[part] = importlib.import_module(part).run(quick=options.quick)
        rows += part_rows
        took = part_seconds[part] = time.monotonic() - part_started
        print(f"{part}: {took:.0f} s\n{table(part_rows)}", file=sys.stderr, flush=True)
        # Written after each part: a later part may fail.
        heading = write(options, rows, details, part_seconds, time.monotonic() - started)
    pictures = draw(details, options.output.parent)
    write(options, rows, details, part_seconds, time.monotonic() - started, pictures)
    print(f"\n{heading}\n\n{targets_table(targets(details))}\n\n{table(rows)}\n\nWritten to {options.output}")
    for path in pictures:
        print(f"Picture: {path}")


def targets(details: dict) -> list[dict]:
    """The issues' targets the parts measured, each part's in its details' `targets`:
    each a name, the value measured, the target and whether it was met."""
    return [target for part in details.values() for target in part.get("targets", ())]


def commit() -> str:
    """The checkout's commit, marked -dirty when it has changes not committed."""
    described = subprocess.run(["git", "-C", str(CHECKOUT), "describe", "--always", "--dirty", "--abbrev=7"],
                               capture_output=True, text=True, check=False)
    return described.stdout.strip() or "unknown"


def write(options: argparse.Namespace, rows: list, details: dict, part_seconds: dict[str, float],
          seconds: float, pictures: Sequence[Path] = ()) -> str:
    """The results so far as JSON, with the pictures drawn from them (file names next to
    the JSON); returns their heading."""
    load = os.getloadavg()[2]       # other work on the machine slows every part, not always evenly
    heading = (f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
               f"{'quick, ' if options.quick else ''}{seconds:.0f} s in all, "
               f"15-minute load average {load:.1f}")
    options.output.parent.mkdir(parents=True, exist_ok=True)
    options.output.write_text(json.dumps({
        "targets": targets(details),
        "heading": heading, "commit": options.commit, "pictures": [path.name for path in pictures],
        "parts": options.parts, "quick": options.quick, "cores": os.cpu_count(),
        "total_seconds": round(seconds, 1), "load_average_15_min": load,
        "part_seconds": {part: round(took, 1) for part, took in part_seconds.items()},
        "rows": [row.as_dict() for row in rows], "details": details}, indent=2) + "\n")
    return heading


if __name__ == "__main__":
    main(sys.argv[1:])
