#!/usr/bin/python3
"""occupy-backup: one complete, dated backup of what this host holds, then retention.

Run by occupy-backup.service (its timer: daily). What to back up is in
/etc/occupy-backup.json, written by the backup role from the inventory. The folder
appears under its final name only once every part is written, so a failed run
leaves no half backup behind that retention would count. Everything is root's
only: a backup holds password hashes and TOTP keys.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tarfile
from pathlib import Path

CONFIG = Path("/etc/occupy-backup.json")
DATED = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{6}Z$")


def run_to_file(argv: list[str], target: Path) -> None:
    """A command's output into a file of root's only; its error output in the exception."""
    with open(target, "wb") as output:
        result = subprocess.run(argv, stdout=output, stderr=subprocess.PIPE, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.decode()[-2000:]}")


def back_up_directory(folder: Path) -> None:
    # slapcat reads the mdb database while slapd runs: a consistent snapshot.
    run_to_file(["slapcat", "-n", "0"], folder / "ldap-config.ldif")
    run_to_file(["slapcat", "-n", "1"], folder / "ldap-data.ldif")


def back_up_postgresql(folder: Path, port: int, database: str) -> None:
    run_to_file(["runuser", "-u", "postgres", "--", "pg_dump", "--format=custom", "--port", str(port),
                 "--dbname", database], folder / f"postgresql-{database}.dump")


def back_up_sqlite(folder: Path, name: str, path: str) -> None:
    source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    target = sqlite3.connect(folder / name)
    try:
        source.backup(target)  # online: consistent while Mailman writes
    finally:
        target.close()
        source.close()


def back_up_files(folder: Path, name: str, paths: list[str]) -> None:
    with tarfile.open(folder / f"{name}.tar.gz", "w:gz") as archive:
        for path in paths:
            if not os.path.lexists(path):
                raise RuntimeError(f"{path} is missing: nothing to back up for {name}")
            archive.add(path, arcname=path.lstrip("/"))


def prune(root: Path, keep: int) -> list[str]:
    """Delete all but the newest `keep` complete backups, and what failed runs left."""
    for partial in root.glob(".partial-*"):
        shutil.rmtree(partial)
    dated = sorted(path.name for path in root.iterdir() if path.is_dir() and DATED.match(path.name))
    removed = dated[:-keep] if keep > 0 else []
    for name in removed:
        shutil.rmtree(root / name)
    return removed


def main() -> int:
    config = json.loads(CONFIG.read_text())
    os.umask(0o077)
    root = Path(config["dir"])
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(root, 0o700)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H%M%SZ")
    partial = root / f".partial-{stamp}"
    partial.mkdir(mode=0o700)
    try:
        if config["directory"]:
            back_up_directory(partial)
        for database in config["postgresql_databases"]:
            back_up_postgresql(partial, config["postgresql_port"], database)
        for item in config["sqlite_files"]:
            back_up_sqlite(partial, item["name"], item["path"])
        for item in config["archives"]:
            back_up_files(partial, item["name"], item["paths"])
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    for path in partial.iterdir():
        os.chmod(path, 0o600)
    partial.rename(root / stamp)
    removed = prune(root, int(config["keep"]))
    size = sum(path.stat().st_size for path in (root / stamp).iterdir())
    print(f"backup={stamp} files={len(list((root / stamp).iterdir()))} bytes={size} removed={len(removed)}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as error:  # the journal gets one line a sysadmin can act on
        print(f"backup failed: {error}", file=sys.stderr)
        sys.exit(1)
