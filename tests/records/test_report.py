"""The build report: summary (pure), the report of the current run, explain, and a PNG."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from demo import last_guid, make_demo, record
from registryd import served_registry

from axion_build.records.model import BuildStep
from axion_build.records.report import explain_last_run, summary_json
from axion_build.records.summary import compile_matrix, summarize, timeline
from needs import missing
from workspace import ROOT

ARTIFACTS = ROOT / "build" / "test-artifacts"


def with_steps(base, *steps: BuildStep):
    return replace(base, steps=base.steps + steps)


def test_summary_counts_tasks_modules_images_and_pushes():
    t0 = record().run.StartTime
    build = with_steps(
        record(),
        BuildStep(2, "image", "image:demo:report", "run", "linux/amd64", t0, 3.0, "",
                  json.dumps({"values": {"image": "axion-demo:report", "size": 1000,
                                         "digest": "sha256:1"},
                              "meta": {"service": "report", "tag": "axion-demo:report"}})),
        BuildStep(3, "image", "image:demo:web", "up-to-date", "linux/amd64"),
        BuildStep(4, "push", "push:demo:report", "run", "linux/amd64", t0, 1.0, "",
                  json.dumps({"values": {"pushed": "r/axion/demo-report:latest",
                                         "digest": "sha256:1", "skipped": False}})),
        BuildStep(5, "push", "push:demo:web", "run", "linux/amd64", t0, 0.2, "",
                  json.dumps({"values": {"pushed": "r/axion/demo-web:latest", "skipped": True}})),
        BuildStep(6, "push", "push:demo:ai", "failed", "linux/amd64", t0, 0.1, "",
                  "", "denied"),
    )
    summary = summarize(build, build)
    assert summary["status"] == "failed" and summary["duration_seconds"] == 12.5
    assert summary["tasks"] == {"run": 4, "up-to-date": 2, "failed": 1, "skipped": 0}
    assert summary["compile"]["pass_rate"] == 50.0
    assert summary["compile"]["factory_sets"] == {
        "factory.core": {"modules": 1, "results": 1, "failed": 0, "pass_rate": 100.0},
        "factory.report": {"modules": 1, "results": 1, "failed": 1, "pass_rate": 0.0}}
    assert (summary["images"]["built"], summary["images"]["up_to_date"]) == (1, 1)
    report = summary["images"]["list"][0]
    assert (report["service"], report["ref"], report["size"]) == (
        "report", "axion-demo:report", 1000)
    assert {k: summary["pushes"][k] for k in ("pushed", "skipped", "failed")} == {
        "pushed": 1, "skipped": 1, "failed": 1}
    assert summary["failures"] == [{"task": "push:demo:ai", "stage": "push", "error": "denied"}]
    assert summary["flags"] == {"skip_push": True}
    json.dumps(summary)  # CI reads it as JSON


def test_summary_without_compile_results():
    summary = summarize(record(compiled=False), None)
    assert summary["compile"]["pass_rate"] is None and summary["compile"]["source_guid"] is None


def test_timeline_places_bars_by_start_and_elapsed():
    base = record()
    t0 = base.run.StartTime
    build = replace(base, steps=(
        BuildStep(0, "validate", "validate:demo", "up-to-date"),
        BuildStep(1, "compile", "a", "run", "", t0 + timedelta(seconds=2.5), 5.0),
        BuildStep(2, "image", "b", "failed", "", t0 + timedelta(seconds=10), 0.0)))
    bars = timeline(build)
    assert [(b["task"], b["left"], b["width"]) for b in bars["bars"]] == [
        ("a", 20.0, 40.0), ("b", 80.0, 0.4)]
    assert bars["ticks"] == ["0.0", "3.1", "6.2", "9.4", "12.5"] and bars["hidden"] == 0
    assert timeline(build, limit=1)["hidden"] == 1


def test_compile_matrix_groups_modules_by_factory_set_and_platform():
    base = record()
    arm = [replace(c, Platform="linux/arm64", CompileSuccess="Y", CompileStatus="up-to-date")
           for c in base.compiles]
    matrix = compile_matrix(replace(base, compiles=base.compiles + tuple(arm)))
    assert matrix["platforms"] == ["linux/amd64", "linux/arm64"]
    assert [(g["name"], g["pass_rate"], g["failed"]) for g in matrix["groups"]] == [
        ("factory.core", 100.0, 0), ("factory.report", 50.0, 1)]
    cells = matrix["groups"][1]["rows"][0]["cells"]
    assert [c.CompileStatus for c in cells] == ["failed", "up-to-date"]


def report_of(demo) -> tuple[str, dict]:
    folder = demo.build / "demo" / "report"
    return ((folder / "latest.html").read_text(),
            json.loads((folder / "summary.json").read_text()))


def test_the_report_is_of_the_current_run(tmp_path):
    demo = make_demo(tmp_path / "ws")
    assert demo.doit().returncode == 0
    first = last_guid(demo)
    demo.module("factory.core/ObjConfig.py", "VALUE = 42\n")
    done = demo.doit()
    assert done.returncode == 0
    second = last_guid(demo)
    html, summary = report_of(demo)
    assert summary["guid"] == second != first
    assert second in html and "changed file dependency app/factory.core/ObjConfig.py" in html
    assert summary["compile"] == {**summary["compile"], "compiled": 2, "up_to_date": 4,
                                  "pass_rate": 100.0, "source_guid": second}
    assert "could not be read" in html  # the demo's registry port is closed: a note
    builds = sorted((demo.build / "demo" / "report" / "builds").glob("*.html"))
    assert len(builds) == 2 and second[:8] in builds[-1].name
    text = (demo.build / "demo" / "report" / "latest.txt").read_text()
    assert text.startswith("demo build SUCCESS")


def test_a_failed_build_is_reported_though_the_report_task_never_ran(tmp_path):
    demo = make_demo(tmp_path / "ws")
    demo.module("factory.report/ObjBroken.py", "def broken(:  # syntax error\n")
    done = demo.doit()
    assert done.returncode == 1 and ".  report:demo" not in done.stdout
    html, summary = report_of(demo)
    assert summary["status"] == "failed" and summary["guid"] == last_guid(demo)
    assert "factory.report/ObjBroken.py:1:5: Cython error: invalid syntax" in html
    assert [f["task"] for f in summary["failures"]] == [
        "compile:demo:amd64:factory.report/ObjBroken.py"]


def test_report_alone_reports_the_last_build_without_recording_a_run(tmp_path):
    demo = make_demo(tmp_path / "ws")
    assert demo.doit().returncode == 0
    build = last_guid(demo)
    done = demo.doit("-s", "report:demo")  # the report task alone, not what it waits for
    assert done.returncode == 0 and "report of demo: build/demo/report/latest.html" in done.stdout
    assert demo.query("SELECT COUNT(*) FROM log_build_run") == [(1,)]
    assert report_of(demo)[1]["guid"] == build
    (demo.build / "demo" / "report" / "latest.html").unlink()
    console = demo.doit("--reporter", "console", "-s", "report:demo")
    assert console.returncode == 0 and "report of demo:" in console.stdout
    assert report_of(demo)[1]["guid"] == build


def test_skip_compile_takes_compile_results_from_the_last_build_that_compiled(tmp_path):
    demo = make_demo(tmp_path / "ws")
    demo.module("factory.report/ObjBroken.py", "def broken(:  # syntax error\n")
    assert demo.doit("--continue").returncode == 2
    compiled = last_guid(demo)
    demo.module("factory.report/ObjBroken.py", "FIXED = 1\n")  # not compiled: skipped
    done = demo.doit("skip_compile=1")
    assert done.returncode == 0, done.stdout + done.stderr
    html, summary = report_of(demo)
    assert summary["guid"] != compiled and summary["flags"]["skip_compile"] is True
    assert summary["compile"]["source_guid"] == compiled
    assert summary["compile"]["failed"] == 2 and not summary["compile"]["from_this_build"]
    assert f"compile results from build {compiled}" in html
    assert summary_json(demo.config())["compile"]["source_guid"] == compiled


def test_explain_and_summary_json_read_the_records(tmp_path):
    demo = make_demo(tmp_path / "ws")
    cfg = demo.config()
    with pytest.raises(LookupError, match="no build of demo recorded"):
        explain_last_run(cfg)
    demo.doit()
    demo.module("factory.core/ObjDebug.py", "VALUE = 7\n")
    demo.module("factory.core/ObjBad.py", "x = (  # syntax error\n")
    demo.doit("--continue")
    text = explain_last_run(cfg)
    guid = last_guid(demo)
    assert text.startswith(f"demo build {guid}: failed in ")
    assert ("  compile:demo:amd64:factory.core/ObjDebug.py  [" in text
            and "]  changed file dependency app/factory.core/ObjDebug.py" in text)
    assert "failed (2):\n  compile:demo:amd64:factory.core/ObjBad.py" in text
    assert "      factory.core/ObjBad.py:1:5: Cython error: invalid syntax" in text
    assert "skipped (4):\n" in text
    assert "\n  image:demo:report  not run: compile did not succeed\n" in text
    assert "  report:demo  not run: compile, image, push did not succeed" in text
    assert "up to date (" in text and "  validate: validate:demo" in text
    summary = summary_json(cfg)
    assert summary["guid"] == guid and summary["compile"]["failed"] == 2
    first = demo.query("SELECT BuildGuid FROM log_build_run ORDER BY StartTime LIMIT 1")[0][0]
    assert summary_json(cfg, first)["status"] == "success"
    with pytest.raises(LookupError, match="no build nope of demo"):
        summary_json(cfg, "nope")


@pytest.fixture
def registry(tmp_path):
    with served_registry(tmp_path / "registry") as (served, _, _):
        yield served


@pytest.mark.e2e
def test_report_with_live_registry_rendered_by_chromium(tmp_path, registry):
    amd = registry.image("axion/demo-report", "amd64", "amd64", b"report")
    arm = registry.image("axion/demo-report", "arm64", "arm64", b"report arm", "v8")
    pushed = registry.index("axion/demo-report", "latest", [amd, arm])
    registry.image("axion/demo-runtime", "latest", "amd64", b"runtime")
    demo = make_demo(tmp_path / "ws", registry=registry.host)
    (demo.root / "pushed-digest.txt").write_text(pushed)
    assert demo.doit().returncode == 0
    demo.module("factory.core/ObjConfig.py", "VALUE = 2\n")
    demo.module("factory.report/ObjBroken.py", "def broken(:  # syntax error\n")
    demo.doit("--continue")
    html, summary = report_of(demo)
    assert "axion/demo-report" in html and "axion/demo-runtime" in html
    assert pushed[:19] in html and "linux/amd64, linux/arm64/v8" in html
    assert "pushed by this build" not in html  # this build pushed nothing: compile failed
    assert summary["status"] == "failed"

    chromium = shutil.which("chromium")
    if chromium is None:
        missing("chromium is not installed")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    png = ARTIFACTS / "build_report.png"
    png.unlink(missing_ok=True)
    page = demo.build / "demo" / "report" / "latest.html"
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'chromium'}", f"--screenshot={png}",
                    "--window-size=1280,1600", page.as_uri()],
                   capture_output=True, timeout=120, check=True)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50_000
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1280, 1600)
    shutil.copy(page, ARTIFACTS / "build_report.html")


def test_pushed_digests_are_marked_in_the_registry_overview(tmp_path, registry):
    image = registry.image("axion/demo-report", "latest", "amd64", b"report")
    demo = make_demo(tmp_path / "ws", registry=registry.host)
    (demo.root / "pushed-digest.txt").write_text(image["digest"])
    assert demo.doit().returncode == 0
    html, summary = report_of(demo)
    assert summary["pushes"]["list"][0]["digest"] == image["digest"]
    assert "pushed by this build" in html


def test_report_paths_are_under_the_package_build_folder(tmp_path):
    demo = make_demo(tmp_path / "ws")
    done = demo.doit("validate:demo", "compile", "report:demo")
    assert done.returncode == 0, done.stdout + done.stderr
    folder = demo.build / "demo" / "report"
    assert {p.name for p in folder.iterdir()} == {"latest.html", "latest.txt", "summary.json",
                                                  "builds"}
    assert Path(folder / "summary.json").read_text().endswith("}\n")


def test_the_registry_overview_taken_during_the_run_is_shown_only_if_nothing_pushed(
        tmp_path, monkeypatch):
    from axion_build.adapters.registry import RegistryOverview, TagInfo
    from axion_build.config.flags import Flags
    from axion_build.config.packages import PACKAGES
    from axion_build.records.report import publish_reports, registry_touched

    demo = make_demo(tmp_path / "ws")  # its registry port is closed
    monkeypatch.setenv("AXION_CONFIG_DIR", str(demo.root / "config"))
    monkeypatch.chdir(demo.root)
    PACKAGES.clear()
    early = {"demo": RegistryOverview(url="http://127.0.0.1:9", reachable=True,
                                      repositories=("axion/demo-taken-early",),
                                      tags=(TagInfo("axion/demo-taken-early", "latest"),))}
    quiet = record()
    assert not registry_touched(quiet)
    assert publish_reports(["demo"], {"demo": quiet}, Flags(), early)[0].startswith(
        "report of demo: ")
    html, _ = report_of(demo)
    assert "axion/demo-taken-early" in html and "could not be read" not in html

    pushed = with_steps(quiet, BuildStep(2, "push", "push:demo:report", "run"))
    assert registry_touched(pushed)
    assert registry_touched(with_steps(quiet, BuildStep(2, "image", "image:demo:web", "failed")))
    assert not registry_touched(
        with_steps(quiet, BuildStep(2, "push", "push:demo:report", "up-to-date")))
    publish_reports(["demo"], {"demo": pushed}, Flags(), early)
    html, _ = report_of(demo)
    assert "axion/demo-taken-early" not in html and "could not be read" in html  # asked again
    PACKAGES.clear()


def deploy_step(status: str, values: dict, **meta) -> BuildStep:
    detail = json.dumps({"values": values, "meta": {"substrate": "supervisor",
                                                    "target": "local", **meta}})
    return BuildStep(9, "deploy", "deploy:demo", status, "", None, 1.0, "", detail,
                     "the gate failed" if status == "failed" else "")


GATE = [{"name": "web: running", "pass": True, "detail": "RUNNING pid 1"},
        {"name": "web: runs the built digest", "pass": True, "detail": "skipped: no image",
         "skipped": True},
        {"name": "report: status pass_rate >= 90", "pass": False, "detail": "pass_rate 80"}]


@pytest.mark.parametrize("step, gate, results, rolled_back", [
    (None, None, None, None),
    (deploy_step("run", {"gate": GATE[:2], "passed": True, "project": "axion-demo"}),
     "passed", ["passed", "skipped"], False),
    (deploy_step("failed", {"gate": GATE, "rollback": {"to_build": "b1", "passed": True}}),
     "failed", ["passed", "skipped", "failed"], True),
    (deploy_step("failed", {"gate": GATE, "rollback": {"down": True}}),
     "failed", ["passed", "skipped", "failed"], False),
    (deploy_step("failed", {"gate": GATE, "rollback": {"refused_build": "b1", "refused": {
        "r/web@sha256:1": "signature not verified"}}}),
     "failed", ["passed", "skipped", "failed"], False),
    (deploy_step("up-to-date", {}, skipped="skip_deploy"), "not run", [], False),
])
def test_the_summary_shows_the_deployment(step, gate, results, rolled_back):
    from axion_build.records.summary import deployment_summary

    found = deployment_summary([step] if step else [])
    if step is None:
        assert found is None
        return
    assert (found["target"], found["substrate"], found["gate"]) == ("local", "supervisor",
                                                                    gate)
    assert [a["result"] for a in found["assertions"]] == results
    assert found["rolled_back"] is rolled_back
