"""A full disk (or quota) as one line naming the folder that filled, not a traceback.

doit turns an exception of a task's action into a `TaskError` holding only the formatted
traceback (the exception itself may not pickle back from a worker process), so a task's
failure is read from the traceback's last line; an exception still at hand is read as is.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
from collections.abc import Iterable
from pathlib import Path

FULL = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded"}
# the last line of a formatted OSError: `OSError: [Errno 28] No space left on device: '/x'`
LAST_LINE = re.compile(r"^[\w.]*Error: \[Errno (\d+)\] [^:']*(?:: '(?P<path>[^']*)')?")


def full_disk_error(traceback_text: str) -> tuple[int, str] | None:
    """(errno, path or '') when a formatted traceback ends in ENOSPC or EDQUOT (pure)."""
    lines = [line for line in traceback_text.strip().splitlines() if line.strip()]
    found = LAST_LINE.match(lines[-1]) if lines else None
    if found is None or int(found.group(1)) not in FULL:
        return None
    return int(found.group(1)), found.group("path") or ""


def mount_point(path: Path) -> Path:
    """The top folder of the filesystem holding `path` (or its nearest existing folder)."""
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    device = path.stat().st_dev
    while path != path.parent and path.parent.stat().st_dev == device:
        path = path.parent
    return path


def fullest(paths: Iterable[Path]) -> Path | None:
    """Of `paths`, the one whose filesystem has the least space free."""
    def free(path: Path) -> int:
        return shutil.disk_usage(mount_point(path)).free

    return min(paths, key=free, default=None)


def no_space_line(code: int, path: str, candidates: Iterable[Path] = ()) -> str:
    """'no space left on device writing <path>: free space in <folder> (df -h <folder>)';
    without a path (a write to an open file names none), the candidate that filled."""
    target = Path(path) if path else fullest(candidates)
    if target is None:
        return f"{FULL[code]}: free space where the build writes (df -h)"
    target = Path(os.path.abspath(target))
    folder = mount_point(target)
    return f"{FULL[code]} writing {target}: free space in {folder} (df -h {folder})"


def full_disk_line(exc: BaseException, candidates: Iterable[Path] = ()) -> str:
    """`no_space_line` of an exception ('' when it is not a full disk or quota)."""
    if not isinstance(exc, OSError) or exc.errno not in FULL:
        return ""
    return no_space_line(exc.errno, str(exc.filename or ""), candidates)


def task_full_disk(task, traceback_text: str) -> str:
    """The one line for a task whose action failed on a full disk ('' for another error):
    without a path in the error, the task's target on the fullest filesystem."""
    found = full_disk_error(traceback_text)
    if found is None:
        return ""
    targets = [Path(target) for target in getattr(task, "targets", [])]
    return no_space_line(*found, targets or [Path.cwd()])
