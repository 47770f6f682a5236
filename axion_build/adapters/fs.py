"""Files written whole or not at all: the one place a temp file is swapped in."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Mapping
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


def write_files(folder: Path, files: Mapping[str, str], prune: str = "") -> list[Path]:
    """Write the changed files; remove files under `prune` that are no longer produced.

    Every new text is written in full to a temporary file before any file is replaced.
    """
    staged: list[tuple[Path, Path]] = []
    try:
        for relative, text in files.items():
            path = folder / relative
            if path.is_file() and path.read_text(encoding="utf-8") == text:
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            staged.append((partial_path(path), path))
            staged[-1][0].write_text(text, encoding="utf-8")
    except BaseException:
        for partial, _ in staged:
            partial.unlink(missing_ok=True)
        raise
    for partial, path in staged:
        partial.replace(path)
    keep = {folder / relative for relative in files}
    for stale in (folder / prune).rglob("*") if prune else ():
        if stale.is_file() and stale not in keep:
            stale.unlink()
    return [path for _, path in staged]
