"""`axion init` in a repo holding only an app tree: what it refuses (an app tree outside
the repo, a repo that is not there, the temporary or root folder) and what it writes (a
config that validates, a .gitignore that hides the keys and the build folder)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from workspace import FIXTURES, Workspace


@pytest.fixture
def ws(tmp_path) -> Workspace:
    """A repo holding only the shop app tree, without its requirements file."""
    ws = Workspace(root=tmp_path / "repo", package="shop")
    shutil.copytree(FIXTURES / "shop", ws.app,
                    ignore=shutil.ignore_patterns("__pycache__", "data.config", "*.documents"))
    (ws.app / "resource.config" / "requirements.txt").unlink()
    return ws


def init(ws: Workspace, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """`axion init shop <args>` in the repo (or `cwd`)."""
    return subprocess.run([sys.executable, "-m", "axion_build.cli", "init", "shop", *args],
                          cwd=cwd or ws.root, env=ws.env(), capture_output=True, text=True,
                          timeout=120)


def written(folder: Path) -> list[str]:
    """Files `axion init` may write, as found in `folder`."""
    return sorted(p.name for p in (folder / "dodo.py", folder / "config", folder / ".gitignore")
                  if p.exists())


def test_an_app_tree_outside_the_repo_is_refused_naming_both(ws, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(ws.app, other / "shop")
    done = init(ws, "--app-root", str(other / "shop"))
    assert done.returncode == 2
    assert (f"the app tree {(other / 'shop').resolve()} is outside the repo "
            f"{ws.root.resolve()}") in done.stderr
    assert written(ws.root) == [] and not (other / "shop" / "data.config").exists()


def test_the_repo_itself_as_app_tree_is_refused(ws):
    done = init(ws, "--app-root", ".", cwd=ws.app)
    assert done.returncode == 2 and "is the repo" in done.stderr
    assert written(ws.app) == []


def test_a_repo_that_does_not_exist_is_an_error_and_is_not_made(ws, tmp_path):
    gone = tmp_path / "no-such-repo"
    done = init(ws, "--app-root", "shop", "--repo", str(gone))
    assert done.returncode == 2
    assert f"--repo {gone} does not exist" in done.stderr
    assert not gone.exists()


@pytest.mark.parametrize("shared", [tempfile.gettempdir(), "/"])
def test_the_temporary_or_root_folder_is_refused_as_repo(ws, shared):
    before = written(Path(shared))
    done = init(ws, "--app-root", "shop", "--repo", shared)
    assert done.returncode == 2
    assert "would make it the project root of every folder below it" in done.stderr
    assert written(Path(shared)) == before


def test_the_config_it_writes_validates_for_an_app_without_requirements(ws):
    done = init(ws, "--app-root", "shop")
    assert done.returncode == 0, done.stderr
    requirements = ws.app / "resource.config" / "requirements.txt"
    assert f"wrote {Path('shop') / 'resource.config' / 'requirements.txt'} (empty" in done.stdout
    assert requirements.read_text() == ""
    ws.doit("keys:shop", "keys:shop:cosign", check=True)
    validated = ws.doit("validate:shop")
    assert validated.returncode == 0, validated.stdout + validated.stderr


def git(repo: Path, *args: str) -> str:
    """A git command in the repo; its output."""
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True,
                          check=True).stdout


def test_keys_and_build_output_are_not_untracked_files(ws):
    git(ws.root, "init", "-q")
    (ws.root / ".gitignore").write_text("*.log")  # the user's own, without a last newline
    assert init(ws, "--app-root", "shop").returncode == 0
    assert (ws.root / ".gitignore").read_text().startswith("*.log\n")
    ws.doit("keys:shop", "keys:shop:cosign", check=True)
    ws.doit("validate:shop", check=True)
    keys = list((ws.app / "data.config").iterdir())
    assert any(key.name.endswith(".key") or "private" in key.name for key in keys), keys
    untracked = git(ws.root, "status", "--porcelain", "--untracked-files=all").splitlines()
    assert untracked and not [line for line in untracked
                              if "data.config" in line or line.startswith("?? build/")]
    again = init(ws, "--app-root", "shop")  # a second init keeps the file as it is
    assert "kept" in again.stdout
    assert (ws.root / ".gitignore").read_text().count("data.config") == 1
