"""Two runs at once on one checkout: the second waits (or refuses); nothing is corrupted."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from workspace import ROOT, make_workspace, provision, ran_tasks, uptodate_tasks

pytestmark = pytest.mark.e2e


def start(ws, *args: str, **env: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "doit", "run", "-f", str(ROOT / "dodo.py"),
               "-d", str(ws.root), "--backend", "sqlite3",
               "--db-file", str(ws.root / "build" / ".doit.sqlite3"), *args]
    return subprocess.Popen(command, env=ws.env(**env), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for_lock_holder(ws, first: subprocess.Popen) -> None:
    lock = ws.root / "build" / ".axion-run.lock"
    deadline = time.time() + 60
    while time.time() < deadline:
        if lock.exists() and f"pid {first.pid}" in lock.read_text():
            return
        time.sleep(0.05)
    raise AssertionError("the first run never took the lock")


def test_second_run_waits_then_finds_everything_done(tmp_path, base_images):
    ws = make_workspace(tmp_path)
    provision(ws)
    # the first run compiles every module itself (no registry cache, no C cache), so it
    # still holds the lock when the second run starts; every run sees the same AXION_*
    alone = {"AXION_CACHE_PULL": "0", "CCACHE_DISABLE": "1"}
    first = start(ws, "compile:shop", **alone)
    wait_for_lock_holder(ws, first)
    refused = ws.doit("compile:shop", AXION_LOCK_WAIT="0")
    assert refused.returncode == 3
    assert "another run holds" in refused.stderr and f"pid {first.pid}" in refused.stderr
    second = start(ws, "compile:shop", **alone)
    out1, err1 = first.communicate(timeout=600)
    out2, err2 = second.communicate(timeout=600)
    assert first.returncode == 0 and second.returncode == 0, err1 + err2
    assert "waiting for it to finish" in err2
    assert "compile:shop:amd64:factory.shop/ObjCart.py" in ran_tasks(out1)
    # the waiting run read the first run's saved state: nothing compiled twice
    assert ran_tasks(out2) == []
    third = ws.doit("compile:shop", check=True, **alone)
    assert ran_tasks(third.stdout) == []
    assert "compile:shop:amd64" in uptodate_tasks(third.stdout)
