"""Modules imported by bare name: an importable name each, one module a name, no stdlib name."""

from __future__ import annotations

from pathlib import Path

import pytest

from axion_build.config.validate import review
from workspace import make_workspace, provision, ran_tasks


@pytest.fixture
def ws(tmp_path, monkeypatch):
    workspace = make_workspace(tmp_path)
    provision(workspace)
    monkeypatch.chdir(tmp_path)
    return workspace


def add(ws, relpath: str, text: str = "X = 1\n") -> Path:
    path = ws.app / relpath
    path.write_text(text)
    return path


# (module to add, problems, warnings)
MODULES = [
    ("factory.util/a=b.py",
     ["shop/factory.util/a=b.py: compile.factory_sets: 'a=b' is not an importable module name "
      "(fix: rename it to a_b.py (letters, digits and '_'))"], []),
    ("factory.shop/nested.pricing/ObjMath.py",
     ["shop/factory.shop/nested.pricing/ObjMath.py: compile.factory_sets: module ObjMath is "
      "also factory.util/ObjMath.py: imported by bare name, one hides the other "
      "(fix: rename factory.shop/nested.pricing/ObjMath.py or factory.util/ObjMath.py)"], []),
    ("factory.util/json.py", [],
     ["shop/factory.util/json.py: compile.factory_sets: module json has the name of a standard "
      "library module and hides it wherever it is imported (fix: rename it, e.g. to "
      "ObjJson.py)"]),
]


@pytest.mark.parametrize(("module", "problems", "warnings"), MODULES)
def test_module_names(ws, module, problems, warnings):
    add(ws, module)
    found, warned = review(Path("config/shop.yaml"), environ={})
    assert [str(p) for p in found] == problems
    assert [str(w) for w in warned] == warnings


def test_a_module_linked_from_outside_the_tree_is_refused(ws, tmp_path):
    (tmp_path / "ObjSecret.py").write_text("X = 1\n")
    (ws.app / "factory.util" / "ObjSecret.py").symlink_to(tmp_path / "ObjSecret.py")
    [problem], _ = review(Path("config/shop.yaml"), environ={})
    assert str(problem) == (
        f"shop/factory.util/ObjSecret.py: compile.factory_sets: factory.util/ObjSecret.py "
        f"resolves to {tmp_path.resolve()}/ObjSecret.py, outside the app tree "
        f"{tmp_path.resolve()}/shop (fix: copy the module into the app tree or remove "
        "shop/factory.util/ObjSecret.py)")


def test_doit_reports_a_bad_module_name_as_a_problem(ws):
    add(ws, "factory.util/a=b.py")
    done = ws.doit("pipeline:shop", "skip_push=1")
    out = done.stdout + done.stderr
    assert done.returncode != 0, out
    assert "'a=b' is not an importable module name (fix: rename it to a_b.py" in out
    assert "Traceback" not in out and "ERROR: Task" not in out
    assert ran_tasks(done.stdout) == ["validate:shop"]


def test_doit_warns_of_a_stdlib_name_and_still_passes(ws):
    add(ws, "factory.util/json.py")
    done = ws.doit("validate:shop", check=True)
    assert "warning: shop/factory.util/json.py: compile.factory_sets: module json" in done.stdout
    assert "shop.yaml: valid" in done.stdout
