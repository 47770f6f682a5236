"""This run's registry cache session of each package and platform: one per process, made
by the first compile task that needs it and ended by the platform's publishing step."""

from __future__ import annotations

import os
import socket
import threading
from datetime import UTC, datetime
from pathlib import Path

from axion_build.build.artifact import Origin
from axion_build.build.cachesign import sign_spooled, spool_of
from axion_build.build.modcache import Candidates, SharedCache, note
from axion_build.config.flags import cache_sides
from axion_build.config.model import PackageConfig


def this_origin(package: str) -> Origin:
    """This run, on this host, now: who built a module compiled here."""
    from axion_build.records.runstate import run_guid

    return Origin(run_guid(package), socket.gethostname(),
                  datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))


_SESSIONS: dict[tuple, SharedCache] = {}
_GUARD = threading.Lock()


def session_for(cfg: PackageConfig, platform: str, work_dir: Path,
                candidates: Candidates) -> SharedCache | None:
    """This run's cache of a package and platform (None when both sides are off)."""
    from axion_build.records.runstate import RUN_ID_ENV

    pull, push = cache_sides(cfg)
    if not (pull or push) or not cfg.registry.url:
        return None
    key = (os.environ.get(RUN_ID_ENV, ""), cfg, platform)
    with _GUARD:
        if key not in _SESSIONS:
            _SESSIONS[key] = SharedCache(cfg, platform, pull=pull, push=push,
                                         work_dir=work_dir, candidates=candidates)
        return _SESSIONS[key]


def finish_session(cfg: PackageConfig, platform: str, work_dir: Path) -> dict:
    """Wait for the platform's pushes, sign what was pushed (by worker processes too) and
    end its cache session; what it did ({} if nothing)."""
    from axion_build.records.runstate import RUN_ID_ENV

    with _GUARD:
        cache = _SESSIONS.pop((os.environ.get(RUN_ID_ENV, ""), cfg, platform), None)
    if cache is not None:
        return cache.finish()
    if cache_sides(cfg)[1] and spool_of(work_dir).is_file():
        signed, why = sign_spooled(cfg, spool_of(work_dir))
        return {"signed": signed, "warnings": [note(why)] if why else []}
    return {}
