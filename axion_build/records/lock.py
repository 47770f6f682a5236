"""One run at a time per checkout: an exclusive lock beside doit's dependency database.

A second run (another terminal, a CI retry) waits for the first, or with
AXION_LOCK_WAIT=0 refuses with the holder named. doit reads task state lazily, so a
run that waited sees what the first one saved. The lock dies with its process, so a
killed run never leaves it behind.
"""

from __future__ import annotations

import fcntl
import os
import sys
import time
from pathlib import Path

LOCK_NAME = ".axion-run.lock"
REFUSED_STATUS = 3
_held: list[int] = []


def lock_path(db_file: str) -> Path:
    """The lock file of the checkout whose doit database is `db_file`."""
    return Path(db_file).resolve().parent / LOCK_NAME


def holder_of(path: Path) -> str:
    """Who holds the lock, as its holder wrote it ('' when unknown)."""
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def hold_run_lock(db_file: str) -> None:
    """Take the checkout's run lock for this process; wait for it, or refuse."""
    path = lock_path(db_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = holder_of(path) or "another process"
        if os.environ.get("AXION_LOCK_WAIT", "1") == "0":
            os.close(fd)
            print(f"axion: another run holds {path} ({holder}); not starting "
                  "(unset AXION_LOCK_WAIT to wait for it)", file=sys.stderr, flush=True)
            raise SystemExit(REFUSED_STATUS) from None
        print(f"axion: another run holds {path} ({holder}); waiting for it to finish",
              file=sys.stderr, flush=True)
        fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}, started {time.strftime('%H:%M:%S')}\n".encode())
    except OSError:  # a full disk: the lock holds all the same, only its holder is unnamed
        pass
    _held.append(fd)


def held_fds() -> list[int]:
    """The descriptors of the locks this process holds."""
    return list(_held)
