"""Files written whole or not at all: the one place a temp file is swapped in."""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path


def partial_path(path: Path) -> Path:
    """Where `path` is staged before it is swapped in: the same folder (the rename is
    atomic), a name of this process and thread's own (two writers never share one)."""
    return path.with_name(f"{path.name}.partial-{os.getpid()}-{threading.get_ident()}")


def write_atomic(path: Path, data: str | bytes, mode: int | None = None) -> Path:
    """Write `data` to `path` so a reader sees the old file or the new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = partial_path(path)
    try:
        if isinstance(data, str):
            partial.write_text(data, encoding="utf-8")
        else:
            partial.write_bytes(data)
        if mode is not None:
            partial.chmod(mode)
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        raise
    return path


def write_if_changed(path: Path, text: str) -> bool:
    """Write `text` atomically unless the file already holds it; True when written."""
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    write_atomic(path, text)
    return True
