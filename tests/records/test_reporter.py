"""The recording reporter, through real doit runs of a small dodo file in a temporary folder.

The dodo file's tasks follow the pipeline's conventions (names, `meta`, compile
failures as TaskFailed with the compiler's text, action values) without running
Cython or Docker, so every reporter path runs in a second.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from demo import PYTHON, Demo, last_guid, make_demo, steps_of

from workspace import ROOT, ran_tasks


@pytest.fixture
def demo(tmp_path) -> Demo:
    return make_demo(tmp_path / "ws")


def test_runs_are_recorded_with_why_each_task_ran(demo):
    first = demo.doit()
    assert first.returncode == 0, first.stdout + first.stderr
    assert "axion: recorded build" in first.stdout
    guid = last_guid(demo)
    steps = steps_of(demo, guid)
    assert steps["compile:demo:amd64:factory.core/ObjConfig.py"] == (
        "run", "first run (no successful run recorded)")
    assert steps["shout"] == ("run", "first run (no successful run recorded)")
    assert steps["report:demo"][0] == "run"

    demo.module("factory.core/ObjConfig.py", "VALUE = 2\n")
    (demo.root / "build" / "demo" / "arm64" / "factory.core" / "ObjDebug.so").unlink()
    second = demo.doit()
    assert second.returncode == 0, second.stdout + second.stderr
    guid2 = last_guid(demo)
    assert guid2 != guid
    steps = steps_of(demo, guid2)
    assert steps["compile:demo:amd64:factory.core/ObjConfig.py"] == (
        "run", "changed file dependency app/factory.core/ObjConfig.py")
    assert steps["compile:demo:arm64:factory.core/ObjDebug.py"] == (
        "run", "missing target build/demo/arm64/factory.core/ObjDebug.so")
    assert steps["compile:demo:amd64:factory.core/ObjDebug.py"] == ("up-to-date", "")
    assert steps["validate:demo"] == ("up-to-date", "")
    assert steps["image:demo:report"] == ("up-to-date", "")
    assert steps["shout"] == ("run", "no dependencies (runs every time)")
    assert steps["push:demo:report"] == ("run", "no dependencies (runs every time)")

    (demo.root / "settings.txt").write_text("O3")
    third = demo.doit("compile")
    assert third.returncode == 0, third.stdout + third.stderr
    steps = steps_of(demo, last_guid(demo))
    assert steps["compile:demo:arm64:factory.core/ObjConfig.py"] == (
        "run", "changed setting (config_changed)")
    forced = demo.doit("-a", "validate:demo")
    assert steps_of(demo, last_guid(demo))["validate:demo"] == (
        "run", "forced (--always-execute)"), forced.stdout


def test_run_row_compile_rows_and_seed_queries(demo):
    demo.module("factory.report/ObjBroken.py", "def broken(:  # syntax error\n")
    done = demo.doit("--continue")
    assert done.returncode == 2  # doit's code when a task was not run for a failed dependency
    runs = demo.query("SELECT BuildGuid, Status, ElapsedSeconds, Platform "
                      "FROM log_build_run ORDER BY StartTime DESC LIMIT 5")
    assert len(runs) == 1
    guid, status, elapsed, platform = runs[0]
    assert (status, platform) == ("failed", "linux/amd64,linux/arm64")
    assert 0 < elapsed < done.seconds
    failures = demo.query("SELECT FactorySet, Module, CompileError FROM log_build_compile "
                          f"WHERE BuildGuid = '{guid}' AND CompileSuccess = 'N'")
    assert sorted((f, m) for f, m, _ in failures) == [
        ("factory.report", "factory.report/ObjBroken.py")] * 2
    assert all("Cython error: invalid syntax" in error for _, _, error in failures)
    passed = demo.query("SELECT COUNT(*) FROM log_build_compile WHERE BuildGuid = :g "
                        "AND CompileSuccess = 'Y'", g=guid)
    assert passed == [(6,)]
    run = demo.query("SELECT Package, HostArch, HostOS, Flags, TaskCount, FailedCount, Command "
                     "FROM log_build_run")[0]
    assert run[0] == "demo" and run[1] and run[2].startswith("Linux")
    assert json.loads(run[3])["skip_push"] is False
    assert (run[4], run[5]) == (14, 2)
    assert "--continue" in run[6]
    steps = steps_of(demo, guid)
    assert steps["image:demo:runtime"] == ("skipped", "not run: compile did not succeed")
    assert steps["push:demo:report"] == ("skipped", "not run: image:demo:report did not succeed")
    compiled = demo.query("SELECT Detail FROM log_build_step "
                          "WHERE Task = 'compile:demo:amd64:factory.core/ObjConfig.py'")[0][0]
    assert json.loads(compiled)["values"]["compiled"] == "factory.core/ObjConfig.py"


def test_flags_from_doit_variables_are_recorded(demo):
    done = demo.doit("validate:demo", "skip_push=1", "notify=")
    assert done.returncode == 0, done.stderr
    flags = json.loads(demo.query("SELECT Flags FROM log_build_run")[0][0])
    assert flags["skip_push"] is True


def test_everything_up_to_date_is_still_a_run(demo):
    assert demo.doit("validate:demo", "compile").returncode == 0
    again = demo.doit("validate:demo", "compile")
    assert again.returncode == 0
    runs = demo.query("SELECT BuildGuid, Status FROM log_build_run ORDER BY StartTime DESC")
    assert len(runs) == 2 and runs[0][1] == "success"
    statuses = {status for status, _ in steps_of(demo, runs[0][0]).values()}
    assert statuses == {"up-to-date"}
    compiles = demo.query("SELECT DISTINCT CompileStatus FROM log_build_compile "
                          "WHERE BuildGuid = :g", g=runs[0][0])
    assert compiles == [("up-to-date",)]


def test_parallel_processes_are_recorded_from_the_main_process(demo):
    done = demo.doit("-n", "3", "-P", "process")
    assert done.returncode == 0, done.stdout + done.stderr
    guid = last_guid(demo)
    steps = steps_of(demo, guid)
    assert steps["compile:demo:arm64:factory.core/ObjDebug.py"] == (
        "run", "first run (no successful run recorded)")
    timed = demo.query("SELECT COUNT(*) FROM log_build_step WHERE BuildGuid = :g AND "
                       "StartTime IS NOT NULL AND ElapsedSeconds >= 0", g=guid)
    assert timed == [(len(steps),)]
    values = demo.query("SELECT Detail FROM log_build_step WHERE Task = 'image:demo:report'")
    assert json.loads(values[0][0])["values"]["size"] == 52428806
    demo.module("factory.core/ObjDebug.py", "VALUE = 3\n")
    again = demo.doit("-n", "3", "-P", "process")
    assert again.returncode == 0
    steps = steps_of(demo, last_guid(demo))
    assert steps["compile:demo:amd64:factory.core/ObjDebug.py"] == (
        "run", "changed file dependency app/factory.core/ObjDebug.py")
    assert steps["compile:demo:amd64:factory.core/ObjConfig.py"] == ("up-to-date", "")


def test_a_run_stopped_by_a_failure_records_what_it_never_reached(demo):
    demo.module("factory.core/ObjBad.py", "x = (  # syntax error\n")
    done = demo.doit()
    assert done.returncode == 1
    steps = steps_of(demo, last_guid(demo))
    failed = [t for t, (status, _) in steps.items() if status == "failed"]
    assert failed == ["compile:demo:amd64:factory.core/ObjBad.py"]
    assert steps["push:demo:report"] == ("skipped", "not reached: the run stopped before it")


def test_the_reporter_is_selected_by_its_registered_name(demo):
    (demo.root / "pyproject.toml").write_text(
        '[tool.doit.plugins.reporter]\naxion = "axion_build.records.reporter:RecordingReporter"\n')
    dodo = (demo.root / "dodo.py").read_text()
    (demo.root / "dodo.py").write_text(dodo.replace('"reporter": RecordingReporter',
                                                    '"reporter": "axion"'))
    done = demo.doit("validate:demo")
    assert done.returncode == 0, done.stderr
    assert "axion: recorded build" in done.stdout
    # a project names it in its own pyproject.toml; an installed entry point would
    # import the installed checkout's `tasks` before any dodo.py, in every checkout
    assert "doit.REPORTER" not in (ROOT / "pyproject.toml").read_text()


# pure pieces -------------------------------------------------------------------------

class FakeTask:
    """Just the attributes of a doit Task the naming functions read."""

    def __init__(self, name: str, meta: dict | None = None):
        self.name, self.meta = name, meta


@pytest.mark.parametrize(
    ("name", "meta", "stage", "package"),
    [
        ("compile:homechoice:amd64:factory.core/ObjConfig.py",
         {"axion": {"stage": "compile", "package": "homechoice"}}, "compile", "homechoice"),
        ("config:homechoice", None, "config", "homechoice"),
        ("keys:shop", {"other": 1}, "keys", "shop"),
        ("base:bookworm-runtime:amd64", None, "base", ""),
        ("base:x", {"axion": {"stage": "base", "package": ""}}, "base", ""),
        ("shout", None, "shout", ""),
    ],
)
def test_stage_and_package_of_a_task(name, meta, stage, package):
    from axion_build.records.runs import package_of, stage_of

    assert (stage_of(FakeTask(name, meta)), package_of(FakeTask(name, meta))) == (stage, package)


def my_check(task, values):
    return False


@pytest.mark.parametrize(
    ("reasons", "first_run", "expected"),
    [
        ({}, True, "first run (no successful run recorded)"),
        ({"has_no_dependencies": True}, False, "no dependencies (runs every time)"),
        ({"uptodate_false": [(False, [], {})]}, False, "uptodate is False (runs every time)"),
        ({"uptodate_false": [(my_check, [], {})]}, False, "changed setting (my_check)"),
        ({"uptodate_false": [("test -f x", [], {})]}, False,
         "uptodate command failed (test -f x)"),
        ({"missing_target": ["/w/build/a.so"], "changed_file_dep": ["/w/app/a.py"]}, False,
         "missing target build/a.so; changed file dependency app/a.py"),
        ({"changed_file_dep": [f"/w/m{i}.py" for i in range(7)]}, False,
         "changed file dependency m0.py, m1.py, m2.py, m3.py, m4.py (+2 more)"),
        ({"added_file_dep": ["/elsewhere/new.py"], "removed_file_dep": ["/w/old.py"]}, False,
         "file dependency added /elsewhere/new.py; file dependency removed old.py"),
        ({"checker_changed": ("MD5Checker", "TimestampChecker")}, False,
         "file checker changed (MD5Checker to TimestampChecker)"),
    ],
)
def test_describe_reasons(reasons, first_run, expected):
    from axion_build.records.why import describe_reasons

    assert describe_reasons(reasons, first_run, Path("/w")) == expected


def test_describe_reasons_names_doit_tools():
    from doit.tools import config_changed, timeout

    from axion_build.records.why import uptodate_text

    assert uptodate_text(config_changed({"a": 1})) == "changed setting (config_changed)"
    assert uptodate_text(timeout(5)) == "timeout expired (timeout)"


class ImageCheck:
    """An uptodate check that says what makes it false."""

    reason = "image missing or its inputs changed"

    def __call__(self) -> bool:
        return False


class SilentCheck:
    """An uptodate check without a reason."""

    reason = ""

    def __call__(self) -> bool:
        return False


@pytest.mark.parametrize(
    ("check", "expected"),
    [
        (ImageCheck(), "image missing or its inputs changed (ImageCheck)"),
        (SilentCheck(), "changed setting (SilentCheck)"),
        (my_check, "changed setting (my_check)"),
    ],
)
def test_an_uptodate_check_is_described_by_its_reason(check, expected):
    from axion_build.records.why import describe_reasons, uptodate_text

    assert uptodate_text(check) == expected
    assert describe_reasons({"uptodate_false": [(check, [], {})]}, False, Path("/w")) == expected


def test_the_pipeline_checks_carry_a_reason():
    from axion_build.build.compile import ToolchainUnchanged
    from axion_build.build.images import ImageCurrent
    from axion_build.publish.push import RegistryCurrent

    for check in (ImageCurrent, RegistryCurrent, ToolchainUnchanged):
        assert isinstance(check.reason, str) and check.reason, check


@pytest.mark.parametrize(
    ("modules", "absent"),
    [
        ("dodo", ("sqlalchemy",)),
        ("axion_build.records.reporter, axion_build.records.report", ("sqlalchemy", "jinja2")),
    ],
)
def test_start_up_imports_neither_sqlalchemy_nor_jinja2(modules, absent):
    """Every doit command imports dodo.py and the reporter; the records and the report's
    templates load only when a run completes."""
    code = f"import sys, {modules}; print(sorted(set({absent!r}) & set(sys.modules)))"
    done = subprocess.run([PYTHON, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["/venv/lib/doit/__main__.py", "pipeline:demo", "skip_push=1"],
         "doit pipeline:demo skip_push=1"),
        (["/venv/bin/doit", "db_password=hunter2", "notify=a b@x"],
         "doit 'db_password=***' 'notify=a b@x'"),
        ([], ""),
    ],
)
def test_command_line_masks_secrets(argv, expected):
    from axion_build.records.runs import command_line

    assert command_line(argv) == expected


def test_expect_noop_runs_nothing_and_names_each_task_with_work(tmp_path):
    demo = make_demo(tmp_path)
    assert demo.doit().returncode == 0
    gate = demo.doit("expect_noop=1")
    assert gate.returncode == 0, gate.stdout + gate.stderr
    # `shout` (no dependencies) and the report run every time by design: not work
    assert "has work to do" not in gate.stdout

    demo.module("factory.core/ObjDebug.py", "VALUE = 2\n")
    gate = demo.doit("expect_noop=1")
    assert gate.returncode == 1
    held = [f"compile:demo:{arch}:factory.core/ObjDebug.py" for arch in ("amd64", "arm64")]
    for name in held:
        assert f"axion:   {name}: changed file dependency" in gate.stdout, gate.stdout
    assert "2 task(s) had work to do" in gate.stdout
    # nothing ran: the compiled output is the old one, and doit remembers the old source
    assert (demo.build / "demo" / "amd64" / "factory.core" / "ObjDebug.so").read_text() == (
        "VALUE = 1\n")
    steps = steps_of(demo, last_guid(demo))
    for name in held:
        status, reason = steps[name]
        assert status == "failed" and reason.startswith("changed file dependency")
    assert demo.query("SELECT Status FROM log_build_run ORDER BY StartTime DESC LIMIT 1") == [
        ("failed",)]
    # the next ordinary run does that work, and only that
    done = demo.doit()
    assert sorted(t for t in ran_tasks(done.stdout) if t.startswith("compile:demo:")) == held
    assert (demo.build / "demo" / "amd64" / "factory.core" / "ObjDebug.so").read_text() == (
        "VALUE = 2\n")
