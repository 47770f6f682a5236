"""Each checkout runs on its own venv (`.venv`, made by scripts/provision.sh): deleting one
clone leaves every other checkout working, and a half-made venv is made again."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from workspace import copy_checkout

pytestmark = pytest.mark.e2e


def run(command: list[str], cwd: Path, timeout: int = 900) -> subprocess.CompletedProcess:
    """`command` as a user types it in `cwd`: no venv active, nothing of this one's paths."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    here = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != here)
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def provisioned(clone: Path) -> Path:
    """`clone` after `./run provision pipeline`; its venv's bin folder."""
    done = run(["./run", "provision", "pipeline"], clone)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    print(next(line for line in done.stdout.splitlines() if "python venv" in line))
    return clone / ".venv" / "bin"


def test_deleting_a_clone_leaves_the_other_clones_working(tmp_path):
    first = copy_checkout(tmp_path / "first")
    second = copy_checkout(tmp_path / "second")
    provisioned(first)
    bin_dir = provisioned(second)
    shutil.rmtree(first)

    helped = run([str(bin_dir / "axion"), "--help"], second, timeout=120)
    assert helped.returncode == 0, helped.stderr
    assert "usage: axion" in helped.stdout and "init" in helped.stdout
    listed = run([str(bin_dir / "doit"), "list"], second, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert "pipeline" in listed.stdout
    where = run([str(bin_dir / "python"), "-c", "import axion_build; print(axion_build.__file__)"],
                tmp_path, timeout=120)
    assert where.stdout.strip() == str(second / "axion_build" / "__init__.py"), where.stderr


def test_a_venv_without_pip_is_made_again(tmp_path):
    clone = copy_checkout(tmp_path / "clone")
    # what `python3 -m venv .venv` leaves where Debian's python3-venv is missing
    subprocess.run([sys.base_prefix + "/bin/python3", "-m", "venv", "--without-pip",
                    str(clone / ".venv")], check=True)
    bin_dir = provisioned(clone)
    done = run([str(bin_dir / "python"), "-m", "pip", "--version"], clone, timeout=120)
    assert done.returncode == 0, done.stderr
    helped = run([str(bin_dir / "axion"), "--help"], clone, timeout=120)
    assert helped.returncode == 0, helped.stderr
