"""Runs that crash, fail or are stopped: recorded as they ended, doit's state kept.

The demo dodo file of test_reporter runs the faults in a second (a check that raises,
an action that exits, a signal mid-task); the shop fixture runs them through the real
pipeline's validate and compile stages, and against an engine address that does not
exist (the real engine is never stopped).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
from demo import PYTHON, Demo, last_guid, make_demo, steps_of

from axion_build.records.runstate import RunTerminated, describe, interruption
from workspace import make_workspace, provision, ran_tasks

FAULTS = '''

import os as _os
import sys as _sys


def _engine_check():
    raise RuntimeError("the engine said no")


def _exit_seven():
    _sys.exit(7)


def _hang(service):
    Path("build/hanging").write_text(service)
    time.sleep(120)


if _os.environ.get("FAULT") in ("check", "exit", "hang"):
    _plain_image = task_image

    def task_image():
        for task in _plain_image():
            if _os.environ["FAULT"] == "check":
                task = {**task, "uptodate": [_engine_check]}
            elif _os.environ["FAULT"] == "exit":
                task = {**task, "actions": [_exit_seven]}
            elif task["name"].endswith(":report"):
                task = {**task, "actions": [(_hang, ["report"])]}
            yield task
'''


@pytest.fixture
def faulty(tmp_path) -> Demo:
    demo = make_demo(tmp_path / "ws")
    dodo = demo.root / "dodo.py"
    dodo.write_text(dodo.read_text() + FAULTS)
    return demo


def last_run(demo: Demo) -> tuple[str, int, int]:
    return demo.query("SELECT Status, FailedCount, TaskCount FROM log_build_run "
                      "ORDER BY StartTime DESC LIMIT 1")[0]


def test_a_check_that_raises_fails_its_task_and_the_run(faulty):
    done = faulty.doit(FAULT="check")
    assert done.returncode != 0
    assert "Traceback" not in done.stdout + done.stderr
    assert "RuntimeError: the engine said no" in done.stdout + done.stderr
    assert last_run(faulty)[:2] == ("failed", 1)
    errors = faulty.query("SELECT Task, Error FROM log_build_step WHERE BuildGuid = :g "
                          "AND Status = 'failed'", g=last_guid(faulty))
    # doit runs the two images in either order; it stops at the first failure
    assert len(errors) == 1 and errors[0][0] in ("image:demo:report", "image:demo:runtime")
    assert "RuntimeError: the engine said no (at dodo.py:" in errors[0][1]
    steps = steps_of(faulty, last_guid(faulty))
    assert steps["push:demo:report"][0] == "skipped"
    assert steps["compile:demo:amd64:factory.core/ObjConfig.py"][0] == "run"


def test_an_action_that_exits_stops_the_run_recorded_as_failed(faulty):
    done = faulty.doit(FAULT="exit")
    assert done.returncode == 7
    assert "Traceback" not in done.stdout + done.stderr
    status, failed, _ = last_run(faulty)
    guid = last_guid(faulty)
    rows = dict(faulty.query("SELECT Task, Error FROM log_build_step WHERE BuildGuid = :g "
                             "AND Status = 'failed'", g=guid))
    image = next(task for task in rows if task.startswith("image:"))
    assert (status, failed) == ("failed", len(rows)) and sorted(rows) == ["doit", image]
    assert "SystemExit: 7" in rows[image]
    assert "Traceback" in rows["doit"] and "SystemExit: 7" in rows["doit"]


def test_a_doit_runtime_error_is_recorded_with_its_text(faulty):
    dodo = faulty.root / "dodo.py"
    dodo.write_text(dodo.read_text() + (
        "\n\ndef task_late():\n"
        "    return {'actions': ['true'], 'calc_dep': ['finder']}\n\n\n"
        "def task_finder():\n"
        "    return {'actions': [lambda: {'task_dep': ['no-such-task']}]}\n"))
    done = faulty.doit("late")
    assert done.returncode != 0
    run = last_run(faulty)
    error = faulty.query("SELECT Error FROM log_build_step WHERE BuildGuid = :g AND "
                         "Task = 'doit'", g=last_guid(faulty))
    assert run[:2] == ("failed", 1), done.stdout + done.stderr
    assert "no-such-task" in error[0][0]


def start_hanging(demo: Demo) -> subprocess.Popen:
    """A pipeline run of the demo that hangs in the report image's action."""
    proc = subprocess.Popen([PYTHON, "-m", "doit"], cwd=demo.root, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=demo.env(FAULT="hang"), start_new_session=True)
    deadline = time.monotonic() + 60
    while not (demo.build / "hanging").exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[0]
        time.sleep(0.05)
    return proc


@pytest.mark.parametrize(("name", "to_group", "code"),
                         [("SIGINT", True, 130), ("SIGTERM", False, 143)])
def test_a_run_stopped_by_a_signal_is_recorded_interrupted(faulty, name, to_group, code):
    proc = start_hanging(faulty)
    sig = getattr(signal, name)
    # Ctrl-C reaches the whole process group (the record writer too); kill(1) one process
    os.killpg(proc.pid, sig) if to_group else proc.send_signal(sig)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == code, output
    assert "Traceback" not in output
    assert f"run interrupted by {name}; recorded as interrupted" in output
    assert last_run(faulty)[:2] == ("interrupted", 1)
    steps = steps_of(faulty, last_guid(faulty))
    assert steps["image:demo:report"][0] == "failed"
    error = faulty.query("SELECT Error FROM log_build_step WHERE Task = 'image:demo:report'")
    assert error == [(f"interrupted by {name} while it ran",)]
    # what finished before the signal was saved in doit's state
    again = faulty.doit("compile")
    assert again.returncode == 0
    assert set(s for s, _ in steps_of(faulty, last_guid(faulty)).values()) == {"up-to-date"}


def test_tasks_that_never_ran_keep_their_state_in_the_demo(faulty):
    assert faulty.doit("compile").returncode == 0
    config = faulty.root / "config" / "demo.yaml"
    config.write_text(config.read_text() + "\n")  # validate reruns
    dodo = faulty.root / "dodo.py"
    good = dodo.read_text()
    dodo.write_text(good.replace('    time.sleep(0.05)\n', '    raise ValueError("bad")\n'))
    # with --continue (as the pipeline runs) doit reports every dependent failed too
    assert faulty.doit("--continue", "compile").returncode != 0
    dodo.write_text(good)
    assert faulty.doit("compile").returncode == 0
    steps = steps_of(faulty, last_guid(faulty))
    assert steps.pop("validate:demo")[0] == "run"
    assert {status for status, _ in steps.values()} == {"up-to-date"}


def compile_tasks(output: str) -> list[str]:
    return [t for t in ran_tasks(output) if t.startswith("compile:shop:") and t.count(":") > 2]


@pytest.mark.parametrize("breakage", ["public key", "entry script"])
def test_a_failed_validate_keeps_the_compiled_modules(tmp_path, breakage):
    ws = make_workspace(tmp_path)
    provision(ws)
    first = ws.doit("compile:shop", check=True)
    assert len(compile_tasks(first.stdout)) >= 3
    broken = (ws.app / "data.config" / "shop_public.pem" if breakage == "public key"
              else ws.app / "ServeStock.py")
    kept = broken.read_bytes()
    broken.unlink()
    failed = ws.doit("compile:shop")
    assert failed.returncode != 0 and compile_tasks(failed.stdout) == []
    broken.write_bytes(kept)
    again = ws.doit("compile:shop", check=True)
    assert compile_tasks(again.stdout) == []


def test_an_unreachable_engine_is_a_fast_error_before_any_work(tmp_path):
    ws = make_workspace(tmp_path)
    provision(ws)
    ws.doit("compile:shop", check=True)
    started = time.monotonic()
    done = ws.doit("pipeline:shop", "skip_push=1", DOCKER_HOST="unix:///nonexistent.sock",
                   AXION_CACHE=str(tmp_path / "empty-cache"))
    assert time.monotonic() - started < 20
    output = done.stdout + done.stderr
    assert done.returncode != 0 and "Traceback" not in output
    assert "no Docker engine answers at unix:///nonexistent.sock" in output
    assert "point DOCKER_HOST at one that runs" in output
    assert "debootstrap" not in output and ran_tasks(done.stdout) == []
    assert not (tmp_path / "empty-cache").exists()
    records = ws.root / "build" / "records.sqlite3"
    from axion_build.records.store import latest_runs, load_record, open_engine

    engine = open_engine(f"sqlite:///{records}")
    run = latest_runs(engine, "shop", 1)[0]
    record = load_record(engine, run.BuildGuid)
    assert (run.Status, run.FailedCount) == ("failed", 1)
    assert [s.Task for s in record.steps if s.Status == "failed"] == ["doit"]
    again = ws.doit("compile:shop", check=True)
    assert compile_tasks(again.stdout) == []


@pytest.mark.parametrize(
    ("exc", "expected"),
    [(RunTerminated("SIGTERM"), "SIGTERM"), (KeyboardInterrupt(), "SIGINT"),
     (RuntimeError("x"), ""), (SystemExit(3), "")],
)
def test_interruption(exc, expected):
    assert interruption(exc) == expected


def test_describe_names_where_an_unknown_error_was_raised():
    try:
        {}["missing"]
    except KeyError as exc:
        text = describe(exc)
    assert text.startswith("KeyError: 'missing' (at test_runstate.py:")
    from axion_build.adapters.docker import EngineUnreachable

    assert describe(EngineUnreachable("no engine")) == "EngineUnreachable: no engine"


def test_ctrl_c_during_the_compile_stage_stops_the_run_as_interrupted(tmp_path):
    """Ctrl-C (SIGINT to the process group) while gcc runs: the run stops within seconds,
    exits 130, is recorded interrupted, no module is recorded as failing to compile, no
    module starts after the signal, and no half-written file is left."""
    import sqlite3
    import sys

    from workspace import db_options

    ws = make_workspace(tmp_path)
    provision(ws)
    line = [sys.executable, "-m", "doit", "run", "-f", str(ws.tool / "dodo.py"), "-d",
            str(ws.root), *db_options(ws.root, "run"), "compile:shop"]
    proc = subprocess.Popen(line, cwd=ws.root, env=ws.env(CCACHE_DISABLE="1"), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    seen = []
    for text in proc.stdout:  # the first module's compile has started
        seen.append(text)
        if text.startswith(".  compile:shop:amd64:"):
            break
    time.sleep(0.3)
    started = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    rest, _ = proc.communicate(timeout=60)
    output = "".join(seen) + rest
    assert time.monotonic() - started < 10
    assert proc.returncode == 130, output
    assert "run interrupted by SIGINT; recorded as interrupted" in output
    assert "failed to compile" not in output and "Traceback" not in output
    assert not [t for t in ran_tasks(rest) if t.startswith("compile:shop:amd64:")]
    assert not [p for p in (ws.root / "build").rglob("*.partial")]
    with sqlite3.connect(ws.root / "build" / "records.sqlite3") as db:
        status = db.execute("SELECT Status FROM log_build_run").fetchall()
        compiles = db.execute("SELECT CompileSuccess FROM log_build_compile").fetchall()
    assert status == [("interrupted",)]
    assert ("N",) not in compiles
