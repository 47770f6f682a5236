"""A full disk is one line naming the folder that filled: read from doit's traceback text
(a table), and for real, a compile stage whose build folder is a full tmpfs."""

from __future__ import annotations

import os
import sqlite3
import subprocess

import pytest

from axion_build.records.diskfull import full_disk_error, mount_point, no_space_line
from needs import needs
from workspace import make_workspace, provision

ENOSPC_TAIL = "Traceback (most recent call last):\n  File \"x.py\", line 1\n"


@pytest.mark.parametrize(("text", "expected"), [
    (ENOSPC_TAIL + "OSError: [Errno 28] No space left on device\n", (28, "")),
    (ENOSPC_TAIL + "OSError: [Errno 28] No space left on device: '/b/x.c'\n", (28, "/b/x.c")),
    ("sqlite3.OperationalError: x\nOSError: [Errno 122] Disk quota exceeded: '/q'", (122, "/q")),
    (ENOSPC_TAIL + "OSError: [Errno 2] No such file or directory: '/b/x.c'\n", None),
    (ENOSPC_TAIL + "ValueError: [Errno 28] said in a message\nKeyError: 'x'\n", None),
    ("", None),
])
def test_the_last_line_of_a_traceback_tells_a_full_disk(text, expected):
    assert full_disk_error(text) == expected


def test_the_line_names_the_file_and_the_filesystem_top(tmp_path):
    line = no_space_line(28, str(tmp_path / "gone" / "x.c"))
    top = mount_point(tmp_path)
    assert line == (f"no space left on device writing {tmp_path / 'gone' / 'x.c'}: "
                    f"free space in {top} (df -h {top})")
    assert no_space_line(122, "", [tmp_path]).startswith(f"disk quota exceeded writing {tmp_path}")


@pytest.fixture
def full_build_folder(tmp_path):
    """The shop workspace whose package build folder is a 2 MB tmpfs, nearly full."""
    ws = make_workspace(tmp_path / "ws")
    provision(ws)
    ws.build.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(ws.build)], check=True)
    try:
        (ws.build / "filler").write_bytes(b"\0" * 1_950_000)
        yield ws
    finally:
        subprocess.run(["umount", "-l", str(ws.build)], check=True)


@needs(os.geteuid() == 0, "mounting a tmpfs needs root")
def test_a_full_build_folder_fails_compile_with_one_line_per_task(full_build_folder):
    ws = full_build_folder
    done = ws.doit("compile:shop", "skip_push=1", AXION_CACHE_PULL="0", AXION_CACHE_PUSH="0")
    out = done.stdout + done.stderr
    assert done.returncode != 0
    assert "Traceback" not in out and "PythonAction Error" not in out
    folder = ws.build.resolve()
    lines = [line for line in out.splitlines() if line.startswith("no space left on device")]
    assert lines and all(line.endswith(f": free space in {folder} (df -h {folder})")
                         for line in lines), out
    assert all(f"writing {folder}/linux-amd64/" in line for line in lines)
    with sqlite3.connect(ws.root / "build" / "records.sqlite3") as db:
        errors = [e for (e,) in db.execute("SELECT Error FROM log_build_step WHERE Error != ''")]
    assert errors and all(e.strip().startswith("no space left on device writing ")
                          and "\n" not in e.strip() for e in errors), errors
