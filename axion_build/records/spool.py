"""The spool: runs that could not be written to their database, kept as JSON files.

A run is spooled in `<build>/spool/`; when that cannot be written either (the build
folder's disk is full, or it is read-only) it goes to a folder of the user's state,
outside the build folder: `$AXION_SPOOL_DIR`, else `$XDG_STATE_HOME/axion-build/spool`,
else `~/.local/state/axion-build/spool`, in a subfolder named after the checkout's
build folder so two checkouts never write each other's runs. The next run that reaches
the database writes what both hold.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

from axion_build.adapters.fs import write_atomic
from axion_build.records.model import BuildRecord

SPOOL_DIR = "spool"


def state_spool(build_root: Path) -> Path:
    """The spool of this checkout outside its build folder."""
    base = os.environ.get("AXION_SPOOL_DIR")
    if not base:
        state = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
        base = Path(state) / "axion-build" / "spool"
    root = build_root.resolve()
    key = hashlib.sha256(str(root).encode()).hexdigest()[:16]
    return Path(base) / f"{root.parent.name or 'root'}-{key}"


def spool_dirs(build_root: Path) -> list[Path]:
    """Where this checkout's runs are spooled, in the order they are tried."""
    return [build_root / SPOOL_DIR, state_spool(build_root)]


def spool(dirs: list[Path], key: str, record: BuildRecord) -> Path:
    """Keep a run that could not be written as a JSON file, in the first folder that
    takes it (atomic write); `key` names its database, '' for none that can be used."""
    run = record.run
    name = f"{run.StartTime:%Y%m%dT%H%M%S}-{run.BuildGuid}.json"
    text = json.dumps({"database": key, "record": record.as_json()}, indent=1)
    errors = []
    for folder in dirs:
        try:
            return write_atomic(folder / name, text)
        except OSError as exc:
            errors.append(f"{folder}: {exc.strerror or exc}")
    raise OSError(f"run {run.BuildGuid} could not be spooled ({'; '.join(errors)}): "
                  "free space in the build folder or set AXION_SPOOL_DIR to a writable folder")


def spooled(dirs: list[Path], key: str,
            packages: set[str]) -> Iterator[tuple[Path, BuildRecord]]:
    """Spooled runs meant for the database `key`, and those of `packages` that had no
    usable database, oldest first."""
    files = sorted((p for d in dirs for p in d.glob("*.json")), key=lambda p: p.name)
    for path in files:
        payload = json.loads(path.read_text(encoding="utf-8"))
        record = BuildRecord.from_json(payload["record"])
        target = payload.get("database")
        if target == key or (target == "" and record.run.Package in packages):
            yield path, record
