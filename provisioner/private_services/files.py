"""Files holding the private services' secrets: readable by their owner only, from the first byte."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def write_private_file(path: str | os.PathLike[str], text: str) -> Path:
    """Write `text` to `path` in a file created with mode 0600, replacing any file there.

    The new file is made beside `path` (O_EXCL, mode 0600) and renamed over it: a
    file already at `path` with a wider mode never holds the new text, and a reader
    never sees half of it.
    """
    return _replace_privately(Path(path), lambda file: file.write(text.encode()))


def copy_private_file(source: str | os.PathLike[str], path: str | os.PathLike[str]) -> Path:
    """Copy `source` to `path` the same way: a new file of mode 0600 from its first byte."""
    with open(source, "rb") as original:
        return _replace_privately(Path(path), lambda file: shutil.copyfileobj(original, file))


def _replace_privately(path: Path, write: Callable[[BinaryIO], object]) -> Path:
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.unlink(missing_ok=True)          # left by a killed run of this process id
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as file:
            write(file)
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        raise
    return path
