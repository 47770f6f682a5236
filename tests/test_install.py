"""The install model: the wheel, installed (not editable) into a new venv, works in a repo
that holds only an app tree, after `axion init`, from any folder of that repo."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import uuid
import zipfile
from pathlib import Path

import pytest

from workspace import FIXTURES, ROOT, copy_checkout


def run(command: list[str], cwd: Path, **extra: str) -> subprocess.CompletedProcess:
    """A command as a user types it: nothing of this shell's AXION_* or PYTHONPATH."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AXION_") and k != "PYTHONPATH"}
    return subprocess.run(command, cwd=cwd, env={**env, **extra}, capture_output=True,
                          text=True, timeout=1800)


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """A new venv holding the wheel of this checkout, installed as a user installs it.

    Its dependencies come from the test venv (a path line, not its .pth files, so this
    checkout's editable install stays out), which saves downloading them again.
    """
    tmp = tmp_path_factory.mktemp("install")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                            "--no-build-isolation", "-q", str(ROOT), "-w", str(tmp / "dist")],
                           capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    wheel = next((tmp / "dist").glob("axion_build-*.whl"))
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = Path(subprocess.run([venv / "bin" / "python", "-c",
                                "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "test-venv-deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    installed = subprocess.run([sys.executable, "-m", "pip", "--python",
                                str(venv / "bin" / "python"), "install", "-q", "--no-deps",
                                str(wheel)],
                               capture_output=True, text=True)
    assert installed.returncode == 0, installed.stderr
    return venv


@pytest.fixture
def repo(tmp_path, venv) -> Path:
    """A repo holding only the shop app tree, after `axion init shop --app-root shop`."""
    repo = tmp_path / "repo"
    shutil.copytree(FIXTURES / "shop", repo / "shop",
                    ignore=shutil.ignore_patterns("__pycache__", "data.config"))
    done = run([str(venv / "bin" / "axion"), "init", "shop", "--app-root", "shop"], repo)
    assert done.returncode == 0, done.stderr
    return repo


def test_the_wheel_installs_no_generic_top_level_name(venv):
    probe = ("import importlib.util as u, axion_build, axion_build.paths as p; "
             "print(u.find_spec('tasks') is None, axion_build.__file__, p.TEMPLATES)")
    done = run([str(venv / "bin" / "python"), "-c", probe], venv)
    assert done.returncode == 0, done.stderr
    missing, location, templates = done.stdout.split()
    assert missing == "True"
    assert location.startswith(str(venv)) and templates.startswith(str(venv))
    assert (Path(templates) / "dockerfiles" / "package.dockerfile.j2").is_file()


TEMPLATE_DIRS = ("caddy", "charts", "deploy", "dockerfiles", "init", "reports")


def test_pip_wheel_warns_of_no_package_and_leaves_the_build_folder_alone(tmp_path):
    checkout = copy_checkout(tmp_path / "checkout")
    shutil.rmtree(checkout / "build", ignore_errors=True)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                            "--no-build-isolation", str(checkout), "-w", str(tmp_path / "dist")],
                           cwd=checkout, capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    output = built.stdout + built.stderr
    assert "is absent from the `packages` configuration" not in output
    assert "absent from the packages configuration" not in output
    # `build/` is the pipeline's output folder: setuptools' tree goes elsewhere
    assert not (checkout / "build").exists()
    wheel = next((tmp_path / "dist").glob("axion_build-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    sources = {f"axion_build/templates/{path.relative_to(checkout).as_posix()}"
               for folder in TEMPLATE_DIRS for path in (checkout / folder).rglob("*")
               if path.is_file() and "__pycache__" not in path.parts}
    assert sources and sources <= names, sorted(sources - names)


def test_init_writes_a_commented_config_and_a_two_line_dodo(repo):
    config = (repo / "config" / "shop.yaml").read_text()
    assert "app_root: ../shop" in config and "# " in config
    assert "factory_sets: [factory.shop, factory.util]" in config
    assert "script: ServeShop.py" in config and "script: ServeStock.py" in config
    assert (repo / "dodo.py").read_text().count("\n") == 2


def test_init_keeps_an_existing_config(repo, venv):
    (repo / "config" / "shop.yaml").write_text("# mine\n")
    done = run([str(venv / "bin" / "axion"), "init", "shop", "--app-root", "shop"], repo)
    assert done.returncode == 0 and "kept" in done.stdout
    assert (repo / "config" / "shop.yaml").read_text() == "# mine\n"


def test_doit_list_works_from_a_subfolder(repo, venv):
    sub = repo / "shop" / "factory.util"
    # doit itself comes from the test venv here (dependencies were not reinstalled)
    done = run([str(venv / "bin" / "python"), "-m", "doit", "list", "--all"], sub,
               DOIT_SEEK_FILE="1")
    assert done.returncode == 0, done.stderr
    assert "pipeline:shop" in done.stdout and "homechoice" not in done.stdout


def test_axion_from_a_subfolder_keeps_everything_in_the_repo(repo, venv):
    done = run([str(venv / "bin" / "axion"), "validate", "shop"], repo / "shop" / "factory.shop")
    # the new repo has no key pair yet: validate names the command that makes it
    assert done.returncode == 1 and "axion keys shop" in done.stdout, done.stdout + done.stderr
    assert (repo / "build" / ".doit.sqlite3").exists()
    assert (repo / "build" / "records.sqlite3").exists()
    assert not (ROOT / "build" / "shop").exists()


@pytest.mark.e2e
def test_axion_pipeline_builds_pushes_and_a_rerun_is_a_no_op(repo, venv, base_images):
    """The whole pipeline from the wheel, in a repo holding only an app tree and what
    `axion init` wrote: images built and pushed to the loopback registry, the report
    written, and a rerun that does nothing."""
    from axion_build.adapters.registry import RegistryClient

    axion = str(venv / "bin" / "axion")
    # a namespace of its own in the machine's registry, new each run: the first run pushes
    namespace = f"installed{uuid.uuid4().hex[:8]}"
    env = {"AXION_REGISTRY_NAMESPACE": namespace}
    assert run([axion, "keys", "shop"], repo).returncode == 0
    first = run([axion, "pipeline", "shop"], repo / "shop", **env)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    assert ".  push:shop:stock" in first.stdout, first.stdout[-3000:]
    index, _, _ = RegistryClient("http://127.0.0.1:5000").manifest(f"{namespace}/shop-stock",
                                                                   "latest")
    assert index, f"{namespace}/shop-stock:latest is not in the registry"
    assert (repo / "build" / "shop" / "report" / "latest.html").is_file()
    verified = run([axion, "verify", "shop"], repo, **env)
    assert verified.returncode == 0, verified.stdout[-3000:] + verified.stderr[-2000:]
    assert f"ok      127.0.0.1:5000/{namespace}/shop-stock:latest@" in verified.stdout
    again = run([axion, "pipeline", "shop"], repo, **env)
    assert again.returncode == 0, again.stdout[-4000:]
    ran = [line for line in again.stdout.splitlines()
           if line.startswith((".  image:shop:", ".  push:shop:", ".  compile:shop:"))]
    assert ran == [], ran
