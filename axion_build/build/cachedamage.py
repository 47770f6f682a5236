"""Cache entries whose blob the registry stores damaged, remembered for a day.

A registry keeps a blob it already has: pushing the same `.so` again uploads nothing and
leaves the damaged file in place, so every run would warn, compile and push again. The
first run that meets one says what is wrong and how its operator mends it; later runs
leave that entry alone (no fetch, no push) until a day has passed or the file is deleted.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from axion_build.adapters.fs import write_atomic

KEEP_SECONDS = 24 * 3600


def damaged_file(build_root: Path) -> Path:
    """Where a build folder remembers the damaged entries it met."""
    return build_root / "registry-cache-damaged.json"


def load_damaged(path: Path, now: float | None = None) -> dict[str, dict]:
    """key → {"blob", "where", "seen"} of the entries met damaged less than a day ago."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    now = time.time() if now is None else now
    return {k: v for k, v in (data if isinstance(data, dict) else {}).items()
            if isinstance(v, dict) and now - float(v.get("seen", 0)) < KEEP_SECONDS}


def remember_damaged(path: Path, key: str, blob: str, where: str) -> None:
    """Note one damaged entry (other processes' notes are kept)."""
    known = load_damaged(path)
    known[key] = {"blob": blob, "where": where, "seen": time.time()}
    write_atomic(path, json.dumps(known, indent=1, sort_keys=True))


def mend_hint(where: str, blob: str, path: Path) -> str:
    """What the operator of the registry does about a damaged blob."""
    hexdigest = blob.removeprefix("sha256:")
    return (f"the registry keeps a blob it has, so pushing cannot mend it: its operator "
            f"removes docker/registry/v2/blobs/sha256/{hexdigest[:2]}/{hexdigest} from the "
            f"storage of {where.split('/', 1)[0]}, then delete {path} (else it is tried again "
            "in a day)")
