"""The benchmark runner: runs the parts asked for, prints one table, writes it as JSON.

    .venv/bin/python bench/run.py                       # everything (make bench)
    .venv/bin/python bench/run.py --only directory,portal --quick

Parts: directory (approvals/s: layer, raw ldap3, ldapmodify), portal (gunicorn under
load), provisioning (one playbook run per batch vs one per volunteer), services (through
Mailman, DokuWiki and Redmine against their bare REST calls, with the worker's memory), login
(wrong passwords for unknown names against existing accounts), faults (a batch while slapd,
Mailman, Redmine and the worker are each killed once: provisioned exactly once, and the
time the faults added).
--quick runs fewer and smaller rounds, to try a change; its figures are not for the README.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from figures import table

PARTS = ("directory", "portal", "provisioning", "services", "login", "faults")
RESULTS = Path(__file__).resolve().parent.parent / "var" / "bench" / "results.json"


def arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(PARTS),
                        help=f"comma-separated parts to run, of {', '.join(PARTS)} (default: all)")
    parser.add_argument("--quick", action="store_true", help="fewer, smaller runs")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"the JSON file (default: {RESULTS})")
    options = parser.parse_args(argv)
    options.parts = [part.strip() for part in options.only.split(",") if part.strip()]
    if unknown := [part for part in options.parts if part not in PARTS]:
        parser.error(f"no such part: {', '.join(unknown)} (parts: {', '.join(PARTS)})")
    return options


def main(argv: list[str]) -> None:
    options = arguments(argv)
    started, rows, details = time.monotonic(), [], {}
    for part in options.parts:
        part_started = time.monotonic()
        print(f"{part}...", file=sys.stderr, flush=True)
        part_rows, details[part] = importlib.import_module(part).run(quick=options.quick)
        rows += part_rows
        took = time.monotonic() - part_started
        print(f"{part}: {took:.0f} s\n{table(part_rows)}", file=sys.stderr, flush=True)
        heading = write(options, rows, details, time.monotonic() - started)    # a later part may fail
    print(f"\n{heading}\n\n{targets_table(targets(details))}\n\n{table(rows)}\n\nWritten to {options.output}")


def targets(details: dict) -> list[dict]:
    """The issues' targets the parts measured, each part's in its details' `targets`:
    each a name, the value measured, the target and whether it was met."""
    return [target for part in details.values() for target in part.get("targets", ())]


def targets_table(rows: list[dict]) -> str:
    lines = ["| target | value | goal | met |", "| --- | ---: | ---: | --- |"]
    lines += [f"| {row['name']} | {row['value']} | {row['target']} | {'yes' if row['met'] else '**no**'} |"
              for row in rows]
    return "\n".join(lines)


def write(options: argparse.Namespace, rows: list, details: dict, seconds: float) -> str:
    """The results so far as JSON; returns their heading."""
    load = os.getloadavg()[2]       # other work on the machine slows every part, not always evenly
    heading = (f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
               f"{'quick, ' if options.quick else ''}{seconds:.0f} s in all, "
               f"15-minute load average {load:.1f}")
    options.output.parent.mkdir(parents=True, exist_ok=True)
    options.output.write_text(json.dumps({
        "targets": targets(details),
        "heading": heading, "parts": options.parts, "quick": options.quick, "cores": os.cpu_count(),
        "total_seconds": round(seconds, 1), "load_average_15_min": load,
        "rows": [row.as_dict() for row in rows], "details": details}, indent=2) + "\n")
    return heading


if __name__ == "__main__":
    main(sys.argv[1:])
