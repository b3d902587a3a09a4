"""Files holding the private services' secrets: readable by their owner only, from the first byte."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def write_private_file(path: str | os.PathLike, text: str) -> Path:
    """Write `text` to `path` in a file created with mode 0600, replacing any file there.

    The new file is made beside `path` (O_EXCL, mode 0600) and renamed over it: a
    file already at `path` with a wider mode never holds the new text, and a reader
    never sees half of it.
    """
    path = Path(path)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.unlink(missing_ok=True)          # left by a killed run of this process id
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        raise
    return path
