"""The `axion` console script as a shell runs it: a reader that goes away (`| head`)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from workspace import make_workspace

DODO = "from axion_build.dodo import *  # noqa: F403\n"


@pytest.fixture
def recorded(tmp_path):
    """A workspace with a dodo.py of its own and one recorded run of the shop package."""
    ws = make_workspace(tmp_path)
    (ws.root / "dodo.py").write_text(DODO)
    ws.doit("validate:shop")
    return ws


def axion(ws, *args: str, **streams) -> subprocess.CompletedProcess:
    """`axion <args>` in the workspace."""
    return subprocess.run([sys.executable, "-m", "axion_build.cli", *args], cwd=ws.root,
                          env=ws.env(), timeout=120, **streams)


def test_summary_into_a_closed_pipe_ends_quietly_with_sigpipe_status(recorded):
    read, write = os.pipe()
    os.close(read)  # the reader is gone before anything is written
    try:
        done = axion(recorded, "summary", "shop", stdout=write, stderr=subprocess.PIPE,
                     text=True)
    finally:
        os.close(write)
    assert done.stderr == ""
    assert done.returncode == 141


def test_summary_piped_to_head_prints_its_first_line_and_no_traceback(recorded):
    line = (f"{sys.executable} -m axion_build.cli summary shop | head -1; "
            "echo status=${PIPESTATUS[0]}")
    done = subprocess.run(["bash", "-c", line], cwd=recorded.root, env=recorded.env(),
                          capture_output=True, text=True, timeout=120)
    assert done.stderr == ""
    first, status = done.stdout.splitlines()
    assert first == "{"
    assert status in ("status=0", "status=141")  # 0 when head read before it closed
    whole = axion(recorded, "summary", "shop", capture_output=True, text=True)
    assert whole.returncode == 0 and '"package": "shop"' in whole.stdout
