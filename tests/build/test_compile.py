"""Compile stage: real Cython and a real C compiler, through the real doit."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from axion_build.build.apptree import ModuleSource, find_modules, python_files, stays_python
from axion_build.build.cc import c_compile, gcc_command
from axion_build.build.compile import cythonize_one
from axion_build.build.toolchain import Interpreter, Toolchain, host_interpreter, host_matches
from axion_build.config.model import CompileSpec, tag_for_platform
from needs import needs
from workspace import FIXTURES, make_workspace, provision, ran_tasks, uptodate_tasks

HOST = host_interpreter()


def interp(**changes) -> Interpreter:
    facts = dict(python="3.11", version="3.11.2", ext_suffix=HOST.ext_suffix,
                 include="/usr/include/python3.11", machine=HOST.machine, libc="2.36")
    facts.update(changes)
    return Interpreter(**facts)


@pytest.mark.parametrize(
    ("host", "image", "platform", "expected"),
    [
        (interp(), interp(), "linux/amd64", True),
        (interp(python="3.12"), interp(), "linux/amd64", False),
        (interp(), interp(ext_suffix=".cpython-312-x86_64-linux-gnu.so"), "linux/amd64", False),
        (interp(), interp(), "linux/arm64", False),
        (interp(libc="2.38"), interp(libc="2.36"), "linux/amd64", False),
        (interp(libc="2.31"), interp(libc="2.36"), "linux/amd64", True),
        (interp(libc=""), interp(), "linux/amd64", False),
    ],
)
def test_host_matches_only_the_same_abi(host, image, platform, expected):
    if platform == "linux/amd64" and HOST.machine != "x86_64":
        pytest.skip("table written for an x86_64 host")
    assert host_matches(host, image, platform) is expected


@pytest.mark.parametrize(
    ("tag", "platform", "expected"),
    [
        ("axion-base/bookworm-runtime:latest", "linux/amd64",
         "axion-base/bookworm-runtime:latest"),
        ("axion-base/bookworm-runtime:latest", "linux/arm64",
         "axion-base/bookworm-runtime:latest-arm64"),
        ("localhost:5000/base", "linux/arm64", "localhost:5000/base:latest-arm64"),
        ("python:3.12-slim-bookworm", "linux/arm64", "python:3.12-slim-bookworm-arm64"),
    ],
)
def test_base_image_tag_per_platform(tag, platform, expected):
    assert tag_for_platform(tag, platform) == expected


def test_find_modules_nested_and_exclusions(tmp_path):
    app = tmp_path / "app"
    shutil.copytree(FIXTURES / "shop", app)
    (app / "factory.util" / "ServeNot.py").write_text("x = 1\n")
    spec = CompileSpec(factory_sets=("factory.util", "factory.shop"),
                       exclude=("factory.util/ObjMath.py",))
    found = find_modules(app, spec)
    assert found == [ModuleSource("factory.shop/ObjCart.py", "factory.shop"),
                     ModuleSource("factory.shop/nested.pricing/ObjPrice.py", "factory.shop")]
    assert python_files(app, spec) == ["ServeShop.py", "ServeStock.py",
                                       "factory.util/ObjMath.py", "factory.util/ServeNot.py",
                                       "factory.shop/__init__.py"]
    assert stays_python(Path("x/__init__.py")) and stays_python(Path("ServeX.py"))
    assert not stays_python(Path("factory.core/ObjServe.py"))


def test_gcc_command_is_a_plain_list():
    assert gcc_command("/inc", ("-O2",), "a.c", "a.so") == [
        "gcc", "-shared", "-fPIC", "-O2", "-fno-strict-aliasing", "-fwrapv", "-I/inc",
        "-o", "a.so", "a.c"]


def test_cython_and_gcc_errors_are_returned_with_their_text(tmp_path):
    bad = tmp_path / "ObjBad.py"
    bad.write_text("def f(x):\n    return x +\n")
    error = cythonize_one(bad, tmp_path / "ObjBad.c", "ObjBad", {"language_level": 3})
    assert "ObjBad.py:2" in error and "Expected" in error
    assert not (tmp_path / "ObjBad.c").exists()
    broken_c = tmp_path / "broken.c"
    broken_c.write_text("int f( { return 1; }\n")
    host = Toolchain(platform="linux/amd64", kind="host", interpreter=HOST)
    error = c_compile(host, broken_c, tmp_path / "broken.so", ("-O0",))
    assert "error" in error and "broken.c" in error
    assert not (tmp_path / "broken.so").exists()
    assert not (tmp_path / "broken.so.partial").exists()


# --- through doit, on the fixture app -------------------------------------------------

needs_engine = needs(shutil.which("docker") is not None, "no docker client")


def compiled_names(ws) -> list[str]:
    manifest = json.loads((ws.build / "linux-amd64" / "compiled.json").read_text())
    return manifest["modules"]


def run_in(app: Path, code: str, extra_path: list[Path]) -> str:
    """Run `code` with the app's factory folders (or a compiled tree) on sys.path."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(str(p) for p in extra_path))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, cwd=app, check=True)
    return done.stdout


def folders(tree: Path) -> list[Path]:
    return [p for p in tree.rglob("*") if p.is_dir() and "__pycache__" not in p.parts]


@needs_engine
def test_compile_is_incremental_and_compiled_code_behaves_like_source(tmp_path, base_images):
    ws = make_workspace(tmp_path)
    provision(ws)
    first = ws.doit("compile:shop", check=True)
    assert "compile:shop:amd64:factory.shop/ObjCart.py" in ran_tasks(first.stdout)
    assert compiled_names(ws) == ["factory.shop/ObjCart.so",
                                  "factory.shop/nested.pricing/ObjPrice.so",
                                  "factory.util/ObjMath.so",
                                  "factory.util/_axion_cyshared.so"]
    compiled = ws.build / "linux-amd64" / "compiled"
    assert not list(compiled.rglob("*.py"))

    # compiled code behaves like the source
    code = ("import json, ObjCart; c = ObjCart.Cart(); c.add('tea', 3.5); c.add('tea', 3.5);"
            "c.add('cake', 7.25); s = c.summary(); print(json.dumps(s))")
    source = json.loads(run_in(ws.app, code, folders(ws.app)))
    native = json.loads(run_in(tmp_path, code, folders(compiled)))
    assert source.pop("file") == "py" and native.pop("file") == "so"
    assert source == native

    second = ws.doit("compile:shop", check=True)
    assert ran_tasks(second.stdout) == []
    assert "compile:shop:amd64:factory.util/ObjMath.py" in uptodate_tasks(second.stdout)

    price = ws.app / "factory.shop" / "nested.pricing" / "ObjPrice.py"
    price.write_text(price.read_text() + "\n\ndef free():\n    return 0\n")
    third = ws.doit("compile:shop", check=True)
    assert [t for t in ran_tasks(third.stdout) if ".py" in t] == [
        "compile:shop:amd64:factory.shop/nested.pricing/ObjPrice.py"]

    # doit's own commands: info tells the state, forget makes exactly that task run again
    math_task = "compile:shop:amd64:factory.util/ObjMath.py"
    info = ws.doit("info", math_task, check=True)
    assert "up-to-date" in info.stdout and "factory.util/ObjMath.py" in info.stdout
    ws.doit("forget", math_task, check=True)
    info = ws.doit("info", math_task)
    assert info.returncode == 1  # doit info: the task is not up to date
    assert re.search(r"status\s*: run", info.stdout), info.stdout
    assert "ToolchainUnchanged (compiler, toolchain or settings changed)" in info.stdout
    forgotten = ws.doit("compile:shop", check=True)
    assert [t for t in ran_tasks(forgotten.stdout) if ".py" in t] == [math_task]

    # a changed compiler setting recompiles every module
    ws.config_file.write_text(ws.config_file.read_text().replace(
        "exclude: []", "exclude: []\n  cflags: [-O1]"))
    fourth = ws.doit("compile:shop", check=True)
    assert len([t for t in ran_tasks(fourth.stdout) if ".py" in t]) == 3


@needs_engine
def test_a_broken_module_fails_the_stage_by_name_and_the_rest_compile(tmp_path, base_images):
    ws = make_workspace(tmp_path)
    provision(ws)
    ws.doit("compile:shop", check=True)
    before = (ws.build / "linux-amd64" / "compiled.json").read_text()
    (ws.app / "factory.util" / "ObjBroken.py").write_text("def f(:\n    pass\n")
    (ws.app / "factory.util" / "ObjNew.py").write_text("def g():\n    return 2\n")
    done = ws.doit("compile:shop")
    assert done.returncode != 0
    out = done.stdout + done.stderr
    assert "factory.util/ObjBroken.py (factory.util, linux/amd64) failed to compile" in out
    assert "ObjBroken.py:1" in out
    assert (ws.build / "linux-amd64" / "modules" / "factory.util" / "ObjNew.so").exists()
    assert not (ws.build / "linux-amd64" / "modules" / "factory.util" / "ObjBroken.so").exists()
    # the last complete tree is left as it was: nothing half-compiled ships
    assert (ws.build / "linux-amd64" / "compiled.json").read_text() == before
    assert not (ws.build / "linux-amd64" / "compiled" / "factory.util" / "ObjNew.so").exists()


@needs_engine
def test_parallel_compile_output_stays_readable(tmp_path, base_images):
    ws = make_workspace(tmp_path)
    provision(ws)
    for i in range(8):
        (ws.app / "factory.util" / f"ObjGen{i}.py").write_text(f"def f{i}(x):\n    return x*{i}\n")
    done = ws.doit("-n", "2", "-P", "process", "compile:shop", check=True)
    lines = [line for line in done.stdout.splitlines() if "compile:" in line]
    # one task a line, each line whole: no output of one worker cut into another's
    assert lines and all(line.startswith((".  ", "-- ")) and line.count("compile:") == 1
                         for line in lines), done.stdout
    assert len([t for t in ran_tasks(done.stdout) if "ObjGen" in t]) == 8


@needs_engine
def test_restored_cache_in_a_fresh_checkout_compiles_nothing(tmp_path, base_images):
    first = make_workspace(tmp_path / "one")
    provision(first)
    first.doit("compile:shop", check=True)
    time.sleep(0.05)
    # a fresh clone elsewhere, then the CI cache (doit db + build folder) restored into it:
    # every file gets a new mtime
    clone = make_workspace(tmp_path / "two")
    shutil.rmtree(clone.root / "build")
    shutil.copytree(first.root / "build", clone.root / "build", copy_function=shutil.copy)
    shutil.copytree(first.app / "data.config", clone.app / "data.config")
    again = clone.doit("compile:shop", check=True)
    assert ran_tasks(again.stdout) == [], again.stdout
    # the restored stamps were refreshed: a later run hashes no source again
    from doit.dependency import JSONCodec, SqliteDB

    db = SqliteDB(str(clone.root / "build" / ".doit.sqlite3"), codec=JSONCodec())
    task = "compile:shop:amd64:factory.util/ObjMath.py"
    source = "shop/factory.util/ObjMath.py"
    assert db.get(task, source)[0] == os.stat(clone.root / source).st_mtime


def test_a_host_without_python_headers_does_not_compile_there(tmp_path):
    """A Python without `Python.h` (Debian's python3 without python3-dev) is named, with
    the package that fixes it, and the compile goes to the builder image instead."""
    from dataclasses import replace

    from axion_build.build.toolchain import host_compile_problem

    assert host_compile_problem(host_interpreter()) == ""
    bare = replace(host_interpreter(), include=str(tmp_path))
    assert "python3-dev" in host_compile_problem(bare)
    assert str(tmp_path) in host_compile_problem(bare)


@pytest.mark.parametrize(("code", "expected"), [
    (-2, "SIGINT"), (130, "SIGINT"), (-15, "SIGTERM"), (143, "SIGTERM"), (1, ""), (0, ""),
    (-9, ""),
])
def test_a_compiler_stopped_by_a_signal_is_an_interruption(code, expected):
    from axion_build.build.cc import stop_signal

    assert stop_signal(code) == expected
