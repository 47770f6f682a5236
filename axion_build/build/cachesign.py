"""Signing what a run gave to the registry cache: each push notes `ref@digest` in a spool
file beside the platform's work folder (worker processes share it), and after the last
push every noted entry is signed together, in this process, with the package's key.
What a run could not sign stays noted, and the next run signs it."""

from __future__ import annotations

import os
from pathlib import Path

from axion_build.adapters.cosign import CosignError
from axion_build.adapters.insign import SigningJob
from axion_build.build.signkeys import sign_in_process
from axion_build.config.model import PackageConfig


def spool_of(work_dir: Path) -> Path:
    """The file listing the entries pushed but not yet signed (`ref@digest` a line)."""
    return work_dir.parent / "cache-unsigned.txt"


def sign_spooled(cfg: PackageConfig, spool: Path) -> tuple[int, str]:
    """Sign every entry the spool lists, together, in this process: (how many, '') or
    (0, why not, and they stay listed for the next run)."""
    taken = spool.with_name(f"{spool.name}.{os.getpid()}")
    try:
        os.replace(spool, taken)
    except FileNotFoundError:
        return 0, ""
    refs = sorted(set(taken.read_text().split()))
    try:
        sign_in_process(cfg, [SigningJob(*ref.rsplit("@", 1)) for ref in refs])
    except CosignError as exc:
        with spool.open("a") as back:
            back.write(taken.read_text())
        taken.unlink()
        return 0, (f"{len(refs)} entries pushed to {cfg.registry.url} are not signed ({exc}); "
                   "other machines compile them, the next run here signs them")
    taken.unlink()
    return len(refs), ""
