"""The whole pipeline, end to end: real engine, real registry on loopback, real records."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest

from axion_build.cli import doit_arguments, parser
from axion_build.config.flags import Flags
from tasks.pipeline import pipeline_steps, task_pipeline
from tasks.scaffold import task_scaffold
from workspace import ROOT, make_workspace, provision, ran_tasks

REGISTRY = "127.0.0.1:5000"


@pytest.mark.parametrize(
    ("flags", "multiarch", "expected"),
    [
        (Flags(), False, ["validate:p", "config:p", "compile:p", "image:p", "push:p",
                          "pipeline:p:scaffold"]),
        (Flags(skip_compile=True, skip_push=True, skip_deploy=True), False,
         ["validate:p", "config:p", "image:p"]),
        (Flags(service="web"), False, ["validate:p", "config:p", "compile:p", "image:p:web",
                                       "push:p:web", "pipeline:p:scaffold"]),
        (Flags(), True, ["validate:p", "config:p", "compile:p", "image:p", "pipeline:p:scaffold"]),
        (Flags(service="web"), True, ["validate:p", "config:p", "compile:p",
                                      "image:p:web:manifest", "pipeline:p:scaffold"]),
    ],
)
def test_pipeline_steps_follow_the_flags(flags, multiarch, expected):
    assert pipeline_steps("p", flags, multiarch) == expected


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["pipeline", "homechoice", "--skip-push"],
         ["run", "pipeline:homechoice", "skip_push=1"]),
        (["pipeline", "homechoice", "--platform", "linux/amd64,linux/arm64", "--notify", "a@b"],
         ["run", "pipeline:homechoice", "notify=a@b", "platform=linux/amd64,linux/arm64"]),
        (["pipeline", "homechoice", "--service", "report", "-n", "2"],
         ["run", "-n", "2", "-P", "process", "pipeline:homechoice", "service=report"]),
        (["scaffold", "homechoice"], ["run", "scaffold:homechoice"]),
        (["image", "homechoice", "--service", "web"],
         ["run", "image:homechoice:web", "service=web"]),
        (["keys", "homechoice"], ["run", "keys:homechoice", "keys:homechoice:cosign"]),
        (["verify", "homechoice"], ["run", "verify:homechoice"]),
    ],
)
def test_cli_maps_the_seed_flags_to_doit(argv, expected):
    assert doit_arguments(parser().parse_args(argv)) == expected


def test_axion_help_lists_init():
    done = subprocess.run([sys.executable, "-m", "axion_build.cli", "--help"], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    verbs = done.stdout.split("{", 1)[1].split("}", 1)[0].split(",")
    assert verbs[0] == "init" and "pipeline" in verbs
    assert "axion init <package> --app-root PATH" in done.stdout


def registry_tags(repository: str) -> list[str]:
    try:
        with urllib.request.urlopen(f"http://{REGISTRY}/v2/{repository}/tags/list",
                                    timeout=5) as answer:
            return sorted(json.load(answer).get("tags") or [])
    except OSError:
        return []


@pytest.fixture
def shop(tmp_path, base_images):
    """The second package, in its own registry namespace."""
    ws = make_workspace(tmp_path)
    provision(ws)
    namespace = f"test-{uuid.uuid4().hex[:8]}"
    ws.extra_env = {"AXION_REGISTRY_NAMESPACE": namespace}
    ws.namespace = namespace
    return ws


def run_pipeline(ws, *args: str, check: bool = True):
    return ws.doit("pipeline:shop", *args, check=check, **ws.extra_env)


@pytest.mark.e2e
def test_second_package_builds_pushes_and_rebuilds_only_what_changed(shop):
    first = run_pipeline(shop)
    assert "pipeline:shop" in ran_tasks(first.stdout)
    tags = registry_tags(f"{shop.namespace}/shop-shop")
    # the two image tags, and cosign's signature and attestations of their digest
    assert "latest" in tags and len([t for t in tags if t.startswith("in-")]) == 1
    assert sorted(t.rsplit(".", 1)[1] for t in tags if t.startswith("sha256-")) == ["att", "sig"]
    assert (shop.build / "deploy" / "compose" / "compose.yaml").is_file()
    assert (shop.build / "report" / "latest.html").is_file()
    summary = json.loads((shop.build / "report" / "summary.json").read_text())
    assert summary["status"] == "success"

    again = run_pipeline(shop)
    assert [t for t in ran_tasks(again.stdout) if t != "pipeline:shop"] == []

    script = shop.app / "ServeShop.py"
    script.write_text(script.read_text() + "\n# edited\n")
    partial = run_pipeline(shop, "service=shop")
    ran = set(ran_tasks(partial.stdout))
    assert {"image:shop:shop", "push:shop:shop"} <= ran
    assert not {"image:shop:stock", "push:shop:stock", "image:shop:caddy"} & ran
    assert not any(t.startswith("compile:") for t in ran)


@pytest.mark.e2e
def test_a_failed_module_stops_the_pipeline_before_any_push(shop):
    (shop.app / "factory.util" / "ObjBroken.py").write_text("def f(:\n    pass\n")
    done = run_pipeline(shop, check=False)
    assert done.returncode != 0
    assert "factory.util/ObjBroken.py (factory.util, linux/amd64) failed to compile" in (
        done.stdout + done.stderr)
    assert registry_tags(f"{shop.namespace}/shop-shop") == []
    assert not any(t.startswith(("image:shop:shop", "push:")) for t in ran_tasks(done.stdout))


@pytest.mark.e2e
def test_kill_9_mid_compile_then_the_next_run_finishes(shop):
    # content no cache holds (ccache, the registry's modules): a warm machine compiled the
    # same 30 modules in the time the kill below waits for 3 of them
    run_key = uuid.uuid4().hex
    for i in range(30):
        (shop.app / "factory.util" / f"ObjMany{i}.py").write_text(
            f"RUN = {run_key!r}\n\n\ndef f{i}(x):\n    return [x * {i} for _ in range(3)]\n")
    env = shop.env(CCACHE_DISABLE="1")
    command = [sys.executable, "-m", "doit", "run", "-f", str(ROOT / "dodo.py"),
               "-d", str(shop.root), "--backend", "sqlite3",
               "--db-file", str(shop.root / "build" / ".doit.sqlite3"), "compile:shop"]
    run = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True)
    modules = shop.build / "linux-amd64" / "modules" / "factory.util"
    deadline = time.time() + 120
    while time.time() < deadline and len(list(modules.glob("ObjMany*.so"))) < 3:
        time.sleep(0.1)
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    assert len(list(modules.glob("ObjMany*.so"))) < 30
    assert not (shop.build / "linux-amd64" / "compiled.json").exists()
    resumed = shop.doit("compile:shop", check=True)
    assert "compile:shop:amd64" in ran_tasks(resumed.stdout)
    manifest = json.loads((shop.build / "linux-amd64" / "compiled.json").read_text())
    assert len([m for m in manifest["modules"] if "ObjMany" in m]) == 30
    assert not list(modules.rglob("*.partial"))
    assert ran_tasks(shop.doit("compile:shop", check=True).stdout) == []


def test_the_pipeline_scaffolds_only_after_every_step_before_it(tmp_path, monkeypatch):
    from axion_build.config.packages import PACKAGES

    ws = make_workspace(tmp_path)
    monkeypatch.setenv("AXION_CONFIG_DIR", str(ws.config_dir))
    PACKAGES.clear()
    try:
        tasks = {t["name"]: t for t in task_pipeline()}
        (alone,) = list(task_scaffold())
    finally:
        PACKAGES.clear()
    assert tasks["shop:scaffold"]["task_dep"] == ["validate:shop", "config:shop", "compile:shop",
                                                  "image:shop", "push:shop"]
    assert tasks["shop"]["task_dep"][-1] == "pipeline:shop:scaffold"
    assert alone["task_dep"] == ["config:shop"]  # `doit scaffold:shop` builds nothing


def test_a_failed_step_leaves_the_deploy_files_unwritten(tmp_path):
    ws = make_workspace(tmp_path)
    provision(ws)
    (ws.app / "factory.util" / "ObjMath.py").write_text("def broken(:\n")
    done = ws.doit("pipeline:shop", "skip_push=1")
    assert done.returncode != 0
    assert "compile:shop:amd64:factory.util/ObjMath.py" in done.stdout + done.stderr
    assert "pipeline:shop:scaffold" not in ran_tasks(done.stdout)
    assert not (ws.build / "deploy").exists()
