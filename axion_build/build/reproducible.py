"""Reproducible images: the time every timestamp of an image takes, from the commit.

The time is that of the last commit touching the package's app tree or its config, so
two machines at one commit build the same bytes, and a commit elsewhere in the repo
changes no image. It is not part of an image's inputs hash: images with the same inputs
are the same images whenever they were committed.
"""

from __future__ import annotations

import functools
import json
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


def reproducible_problem() -> str:
    """Why the engine cannot build reproducible images ('' when it can).

    It takes BuildKit 0.13's `rewrite-timestamp` (Docker 25 and later) and the
    containerd image store, which keeps the rewritten layers as they were exported.
    """
    from axion_build.adapters import docker

    info = docker.engine_info()
    return reproducible_verdict(str(info.get("ServerVersion", "")),
                                json.dumps(info.get("DriverStatus")))


def build_time(cfg: PackageConfig) -> tuple[int | None, str]:
    """(SOURCE_DATE_EPOCH, '') for a reproducible build, else (None, why not), said once
    per run."""
    problem = reproducible_problem()
    epoch = None
    if not problem:
        epoch = commit_time(cfg)
        if epoch is None:
            problem = (f"{cfg.app_root} is not in a git checkout with a commit, whose time "
                       "every timestamp of a reproducible image takes")
    if problem:
        say_once(cfg, f"images of {cfg.name} are not reproducible: {problem}")
    return epoch, problem


def reproducible_verdict(version: str, driver_status: str) -> str:
    """Why an engine of `version` with `driver_status` cannot build reproducibly (pure)."""
    try:
        major = int(version.split(".")[0])
    except ValueError:
        return f"the engine's version is unknown ({version or 'no answer'})"
    if major < 25:
        return (f"Docker {version} builds with a BuildKit that cannot rewrite layer "
                "timestamps (Docker 25 or later can)")
    if "io.containerd.snapshotter" not in driver_status:
        return (f"Docker {version} keeps images outside the containerd image store, which "
                'reproducible layers need: set {"features": {"containerd-snapshotter": '
                "true}} in /etc/docker/daemon.json")
    return ""
