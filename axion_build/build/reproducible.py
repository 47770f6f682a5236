"""Reproducible images: the time every timestamp of an image takes, from the commit.

The time is that of the last commit touching the package's app tree or its config, so
two machines at one commit build the same bytes, and a commit elsewhere in the repo
changes no image. It is not part of an image's inputs hash: images with the same inputs
are the same images whenever they were committed.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys

from axion_build.config.model import PackageConfig


@functools.cache
def commit_time(cfg: PackageConfig) -> int | None:
    """Unix time of the last commit of the app tree or the config; None outside git."""
    app = cfg.app_root.resolve()
    done = subprocess.run(["git", "-C", str(app), "log", "-1", "--format=%ct", "--", str(app),
                           str(cfg.path.resolve())], capture_output=True, text=True)
    text = done.stdout.strip()
    return int(text) if done.returncode == 0 and text.isdigit() else None


def say_once(cfg: PackageConfig, message: str) -> None:
    """Print a warning once per run, whichever worker process gets there first."""
    from axion_build.records.runstate import RUN_ID_ENV

    run = os.environ.get(RUN_ID_ENV, "") or str(os.getpid())
    stamp = cfg.build_root / ".reproducible-said"
    try:
        if stamp.read_text() == run:
            return
    except OSError:
        pass
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(run)
    print(f"WARNING: {message}", file=sys.stderr)
