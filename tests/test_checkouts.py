"""Every checkout is its own: a second clone run by another clone's venv reads its own
code, config, app tree and build folder, whichever clone the venv was installed from."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from imagefs import PEM, docker_label
from workspace import FIXTURES, ROOT, copy_checkout, make_workspace, provision, ran_tasks

VENV_BIN = Path(sys.executable).parent
WHERE = ('\nimport os as _os\nif _os.environ.get("CHECKOUT_WHERE_PROBE"):\n'
         '    print("tasks from", __file__)\n')


@pytest.fixture
def second_clone(tmp_path):
    """A copy of this checkout whose only package is `cloneb`, and which says where its
    `tasks` package was imported from."""
    clone = copy_checkout(tmp_path / "clone-b")
    for config in (clone / "config").glob("*.yaml"):
        config.unlink()
    shutil.copytree(FIXTURES / "shop", clone / "apps" / "cloneb")
    text = (FIXTURES / "shop-config" / "shop.yaml").read_text()
    (clone / "config" / "cloneb.yaml").write_text(
        text.replace("name: shop", "name: cloneb").replace("app_root: ../shop",
                                                           "app_root: ../apps/cloneb"))
    with (clone / "tasks" / "__init__.py").open("a") as init:
        init.write(WHERE)
    return clone


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """A command as a user types it in `cwd`: nothing of this shell's AXION_* or PYTHONPATH."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AXION_") and k != "PYTHONPATH"}
    env["CHECKOUT_WHERE_PROBE"] = "1"
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def test_doit_in_a_second_clone_uses_that_clone(second_clone):
    done = run([str(VENV_BIN / "doit"), "list", "--all"], second_clone)
    assert done.returncode == 0, done.stderr
    assert f"tasks from {second_clone / 'tasks' / '__init__.py'}" in done.stdout
    assert "pipeline:cloneb" in done.stdout
    assert "homechoice" not in done.stdout


def test_axion_from_a_subfolder_of_a_second_clone_uses_that_clone(second_clone):
    done = run([str(VENV_BIN / "axion"), "validate", "cloneb"],
               second_clone / "apps" / "cloneb" / "factory.util")
    assert f"tasks from {second_clone / 'tasks' / '__init__.py'}" in done.stdout
    # the key pair is missing in the new clone: validate names it, in that clone's config
    assert done.returncode == 1 and "config/cloneb.yaml" in done.stdout
    assert "doit keys:cloneb" in done.stdout
    assert (second_clone / "build" / ".doit.sqlite3").exists()
    assert not (ROOT / "build" / "cloneb").exists()


def test_axion_hints_name_a_command_that_exists(second_clone):
    done = run([str(VENV_BIN / "axion"), "compile", "nosuchpkg"], second_clone)
    assert done.returncode == 3
    assert 'Type "doit list" to see available tasks' in done.stderr
    listed = run([str(VENV_BIN / "doit"), "list"], second_clone)
    assert listed.returncode == 0 and "pipeline" in listed.stdout


PUSH_NOW = """
import sys
from axion_build.config.model import native_platform
from axion_build.config.packages import PACKAGES
from axion_build.publish.push import push_target
print(push_target(PACKAGES.get("shop"), "stock", native_platform()))
"""


@pytest.mark.e2e
def test_two_checkouts_on_one_engine_never_take_each_others_images(base_images, tmp_path):
    """Both build `axion-shop:*` on one engine: a guard refusal in one leaves the other's
    images alone, and an image the other rebuilt is neither current nor pushed here."""
    a, b = make_workspace(tmp_path / "a"), make_workspace(tmp_path / "b")
    provision(a)
    provision(b)
    a.doit("image:shop", check=True)
    built = docker_label("axion-shop:stock")
    assert built

    leak = b.app / "factory.util" / "ObjLeak.py"
    leak.write_text(f"KEY = {PEM.decode()!r}\n")
    refused = b.doit("image:shop")
    assert refused.returncode != 0 and "secret guard" in refused.stdout + refused.stderr
    assert docker_label("axion-shop:stock") == built
    assert ran_tasks(a.doit("image:shop", check=True).stdout) == []

    leak.write_text("VALUE = 2\n")
    b.doit("image:shop", check=True)
    assert docker_label("axion-shop:stock") not in ("", built)
    pushed = subprocess.run([sys.executable, "-c", PUSH_NOW], cwd=a.root, env=a.env(),
                            capture_output=True, text=True, timeout=120)
    assert "now holds another build" in pushed.stdout, pushed.stdout + pushed.stderr
    again = a.doit("image:shop", check=True)
    assert "image:shop:stock" in ran_tasks(again.stdout)
    assert docker_label("axion-shop:stock") == built

