"""Options naming app-tree paths are refused when they leave the tree (`..`, absolute,
symlinks), from the file or the environment; and refused before any task is made."""

from __future__ import annotations

from pathlib import Path

import pytest

from axion_build.config.load import load_config
from axion_build.config.problems import ConfigError
from axion_build.config.validate import validate_file
from workspace import make_workspace, provision, ran_tasks

INSIDE = "(fix: use a path inside the app tree, relative to it)"


@pytest.fixture
def ws(tmp_path, monkeypatch):
    workspace = make_workspace(tmp_path)
    provision(workspace)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "ObjEvil.py").write_text("X = 1\n")
    (workspace.app / "factory.link").symlink_to(tmp_path / "outside")
    monkeypatch.chdir(tmp_path)
    return workspace


def edit(ws, old: str, new: str) -> None:
    text = ws.config_file.read_text()
    assert old in text, old
    ws.config_file.write_text(text.replace(old, new, 1))


# (edit, environment, exact problem with {root} for the resolved workspace)
ESCAPES = [
    (("    script: ServeStock.py\n", "    script: ../ServeStock.py\n"), {},
     "config/shop.yaml:20: services.stock.script: ../ServeStock.py resolves to "
     "{root}/ServeStock.py, outside the app tree {root}/shop " + INSIDE),
    (("    script: ServeStock.py\n", "    script: /tmp/ServeStock.py\n"), {},
     "config/shop.yaml:20: services.stock.script: /tmp/ServeStock.py resolves to "
     "/tmp/ServeStock.py, outside the app tree {root}/shop " + INSIDE),
    (("    script: ServeStock.py\n", "    script: Serve Stock;x.py\n"), {},
     "config/shop.yaml:20: services.stock.script: 'Serve Stock;x.py' is not an entry script "
     "name (fix: use a path of letters, digits, '_', '.' and '-' ending in .py, e.g. "
     "ServeReport.py)"),
    (("[factory.util, factory.shop]", "[factory.util, ../outside]"), {},
     "config/shop.yaml:10: compile.factory_sets: ../outside resolves to {root}/outside, "
     "outside the app tree {root}/shop " + INSIDE),
    (("[factory.util, factory.shop]", "[factory.util, factory.link]"), {},
     "config/shop.yaml:10: compile.factory_sets: factory.link resolves to {root}/outside, "
     "outside the app tree {root}/shop " + INSIDE),
    (("  exclude: []\n", "  exclude: [../outside/ObjEvil.py]\n"), {},
     "config/shop.yaml:11: compile.exclude: ../outside/ObjEvil.py resolves to "
     "{root}/outside/ObjEvil.py, outside the app tree {root}/shop " + INSIDE),
    (("services:\n", "images:\n  requirements_file: ../../etc/passwd\nservices:\n"), {},
     "config/shop.yaml:14: images.requirements_file: ../../etc/passwd resolves to "
     "{parent}/etc/passwd, outside the app tree {root}/shop " + INSIDE),
    (("services:\n", "images:\n  arm_exclude_file: /etc/hosts\nservices:\n"), {},
     "config/shop.yaml:14: images.arm_exclude_file: /etc/hosts resolves to /etc/hosts, "
     "outside the app tree {root}/shop " + INSIDE),
    (("", ""), {"AXION_IMAGES_REQUIREMENTS_AI_FILE": "../outside/req.txt"},
     "environment variable AXION_IMAGES_REQUIREMENTS_AI_FILE: images.requirements_ai_file: "
     "../outside/req.txt resolves to {root}/outside/req.txt, outside the app tree {root}/shop "
     "(fix: use a path inside the app tree, relative to it "
     "(or unset AXION_IMAGES_REQUIREMENTS_AI_FILE))"),
    (("", ""), {"AXION_COMPILE_FACTORY_SETS": "factory.util,../outside"},
     "environment variable AXION_COMPILE_FACTORY_SETS: compile.factory_sets: ../outside "
     "resolves to {root}/outside, outside the app tree {root}/shop (fix: use a path inside "
     "the app tree, relative to it (or unset AXION_COMPILE_FACTORY_SETS))"),
    (("[factory.util, factory.shop]", "[factory.util, .]"), {},
     "config/shop.yaml:10: compile.factory_sets: '.' is the app tree itself, not a factory "
     "set (a factory.* folder inside the app tree) (fix: list the factory.* folders to "
     "compile, e.g. [factory.shop, factory.util])"),
    (("[factory.util, factory.shop]", "[factory.util/..]"), {},
     "config/shop.yaml:10: compile.factory_sets: 'factory.util/..' is the app tree itself, "
     "not a factory set (a factory.* folder inside the app tree) (fix: list the factory.* "
     "folders to compile, e.g. [factory.shop, factory.util])"),
    (("[factory.util, factory.shop]", "[factory.util, 7]"), {},
     "config/shop.yaml:10: compile.factory_sets: expected a folder path, got 7 " + INSIDE),
]


@pytest.mark.parametrize(("change", "environ", "expected"), ESCAPES)
def test_each_path_leaving_the_app_tree_is_refused(ws, change, environ, expected):
    edit(ws, *change)
    root = ws.root.resolve()
    problems = [str(p) for p in validate_file(Path("config/shop.yaml"), environ=environ)]
    assert problems == [expected.format(root=root, parent=root.parent)]
    with pytest.raises(ConfigError):
        load_config(Path("config/shop.yaml"), environ)


def test_a_script_outside_the_tree_stops_the_pipeline_before_it_writes(ws):
    edit(ws, "    script: ServeStock.py\n", "    script: ../victim/ServeStock.py\n")
    victim = ws.root / "victim"
    victim.mkdir()
    (victim / "ServeStock.py").write_text("print('mine')\n")
    before = {p: p.read_bytes() for p in victim.rglob("*")}
    done = ws.doit("pipeline:shop", "skip_push=1")
    out = done.stdout + done.stderr
    assert done.returncode != 0
    assert "services.stock.script: ../victim/ServeStock.py resolves to" in out
    assert "Traceback" not in out
    assert ran_tasks(done.stdout) == ["validate:shop"]
    assert {p: p.read_bytes() for p in victim.rglob("*")} == before
    assert not ws.build.exists()  # nothing compiled, built or scaffolded
