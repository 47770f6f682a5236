"""A small doit project for the records tests: a dodo file whose tasks follow the pipeline's
conventions (names, `meta`, compile failures as TaskFailed with the compiler's text, action
values) without running Cython or Docker, so every reporter path runs in a second."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from axion_build.config.load import load_config
from axion_build.config.model import PackageConfig
from axion_build.records.model import BuildCompile, BuildRecord, BuildRun, BuildStep
from axion_build.records.store import open_engine
from workspace import run_env

PYTHON = sys.executable

CONFIG = """\
package:
  name: demo
  app_root: ../app
build:
  folder: ../build
compile:
  factory_sets: [factory.core, factory.report]
services:
  report:
    script: ServeReport.py
    port: 9400
registry:
  url: {registry}
  namespace: axion
database:
  url: "{database_url}"
smtp:
  host: 127.0.0.1
  port: {smtp_port}
"""

DODO = '''\
"""A miniature pipeline with the stage conventions of Axion Build."""

import json
import time
from pathlib import Path

from doit.exceptions import TaskFailed
from doit.tools import config_changed

from axion_build.config.flags import current_flags
from axion_build.config.packages import PACKAGES
from tasks.report import report_task
from axion_build.records.reporter import RecordingReporter

DOIT_CONFIG = {"reporter": RecordingReporter, "verbosity": 2, "backend": "sqlite3",
               "dep_file": "build/.doit.sqlite3", "default_tasks": ["pipeline"]}
APP = Path("app")
MODULES = sorted(str(p.relative_to(APP)) for p in APP.glob("factory.*/**/*.py"))
PLATFORMS = ("linux/amd64", "linux/arm64")
SETTINGS = Path("settings.txt").read_text() if Path("settings.txt").exists() else "O2"
COMPILED = [] if current_flags().skip_compile else ["compile"]


def meta(stage, platform="linux/amd64", **extra):
    return {"axion": {"stage": stage, "package": "demo", "platform": platform, **extra}}


def check_config(target):
    time.sleep(0.05)
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    Path(target).write_text("ok")


def compile_module(source, target, module):
    started = time.perf_counter()
    time.sleep(0.02)
    code = Path(source).read_text()
    if "syntax error" in code:
        return TaskFailed(f"{module}:1:5: Cython error: invalid syntax\\n    {code.strip()}")
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    Path(target).write_text(code)
    return {"compiled": module, "seconds": round(time.perf_counter() - started, 3)}


def build_image(service):
    time.sleep(0.1)
    return {"image": f"axion-demo:{service}", "size": 52428800 + len(service),
            "digest": "sha256:" + "ab" * 32}


def push_image(service):
    digest = Path("pushed-digest.txt")
    return {"pushed": f"127.0.0.1:5000/axion/demo-{service}:latest",
            "digest": digest.read_text().strip() if digest.exists() else "sha256:" + "ab" * 32,
            "skipped": False}


def task_validate():
    yield {"name": "demo", "actions": [(check_config, ["build/demo/validated"])],
           "file_dep": ["config/demo.yaml"], "targets": ["build/demo/validated"],
           "meta": meta("validate")}


def task_compile():
    if current_flags().skip_compile:
        return
    for platform in PLATFORMS:
        arch = platform.split("/")[1]
        for module in MODULES:
            target = f"build/demo/{arch}/{module[:-3]}.so"
            yield {"name": f"demo:{arch}:{module}",
                   "actions": [(compile_module, [str(APP / module), target, module])],
                   "file_dep": [str(APP / module)], "targets": [target],
                   "uptodate": [config_changed(SETTINGS)], "task_dep": ["validate:demo"],
                   "meta": meta("compile", platform, factory_set=module.split("/")[0],
                                module=module)}


def task_image():
    for service in ("runtime", "report"):
        yield {"name": f"demo:{service}", "actions": [(build_image, [service])],
               "uptodate": [config_changed(service)], "task_dep": COMPILED,
               "meta": meta("image", service=service, tag=f"axion-demo:{service}")}


def task_push():
    yield {"name": "demo:report", "actions": [(push_image, ["report"])],
           "task_dep": ["image:demo:report"],
           "meta": meta("push", service="report", ref="127.0.0.1:5000/axion/demo-report:latest")}


def task_report():
    yield report_task(PACKAGES.get("demo"), after=["validate:demo", *COMPILED, "image", "push"])


def task_shout():
    """A task without meta, dependencies or package: runs every time."""
    return {"actions": ["echo shout"], "verbosity": 0}


def task_pipeline():
    return {"actions": None, "task_dep": ["validate:demo", *COMPILED, "image", "push", "shout",
                                          "report:demo"]}
'''


@dataclass
class Demo:
    """A folder with the demo config, app tree and dodo file; runs doit in it."""

    root: Path

    @property
    def build(self) -> Path:
        return self.root / "build"

    def env(self, **extra: str) -> dict[str, str]:
        return run_env(self.root / "config", **extra)

    def doit(self, *args: str, **extra_env: str) -> subprocess.CompletedProcess:
        """Run the real doit on the demo dodo file."""
        started = time.perf_counter()
        done = subprocess.run([PYTHON, "-m", "doit", *args], cwd=self.root, text=True,
                              capture_output=True, env=self.env(**extra_env), timeout=300)
        done.seconds = time.perf_counter() - started
        return done

    def module(self, relpath: str, code: str = "VALUE = 1\n") -> Path:
        path = self.root / "app" / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(code)
        return path

    def config(self) -> PackageConfig:
        return load_config(self.root / "config" / "demo.yaml", environ={})

    def engine(self):
        return open_engine(f"sqlite:///{self.build / 'records.sqlite3'}")

    def query(self, sql: str, url: str | None = None, **params) -> list[tuple]:
        engine = open_engine(url) if url else self.engine()
        with engine.connect() as conn:
            rows = [tuple(r) for r in conn.execute(text(sql), params)]
        engine.dispose()
        return rows


def make_demo(root: Path, database_url: str = "", smtp_port: int = 9,
              registry: str = "127.0.0.1:9") -> Demo:
    """The demo workspace: three modules in two factory sets, one config."""
    demo = Demo(root)
    (root / "config").mkdir(parents=True)
    (root / "config" / "demo.yaml").write_text(
        CONFIG.format(database_url=database_url, smtp_port=smtp_port, registry=registry))
    (root / "dodo.py").write_text(DODO)
    demo.module("ServeReport.py", "print('report')\n")
    demo.module("factory.core/ObjConfig.py")
    demo.module("factory.core/ObjDebug.py")
    demo.module("factory.report/package.system/ObjReportStatus.py")
    (root / "build").mkdir()
    return demo


def steps_of(demo: Demo, guid: str, url: str | None = None) -> dict[str, tuple[str, str]]:
    rows = demo.query("SELECT Task, Status, Reason FROM log_build_step WHERE BuildGuid = :g",
                      url, g=guid)
    return {task: (status, reason) for task, status, reason in rows}


def last_guid(demo: Demo, url: str | None = None) -> str:
    return demo.query("SELECT BuildGuid FROM log_build_run ORDER BY StartTime DESC LIMIT 1",
                      url)[0][0]


def record(package: str = "demo", started: datetime | None = None, failed: bool = True,
           compiled: bool = True) -> BuildRecord:
    """A run with one module compiled, one failed, and the steps that go with them."""
    started = started or datetime(2026, 3, 1, 12, 0, 0, 123456)
    guid = str(uuid.uuid4())
    compiles = (
        BuildCompile("factory.core", "factory.core/ObjConfig.py", "linux/amd64", "Y", "compiled",
                     "", 0.4, "compile:demo:amd64:factory.core/ObjConfig.py"),
        BuildCompile("factory.report", "factory.report/ObjBad.py", "linux/amd64",
                     "N" if failed else "Y", "failed" if failed else "compiled",
                     "ObjBad.py:3:1: Cython error: ünïcode and 'quotes'" if failed else "", 0.2,
                     "compile:demo:amd64:factory.report/ObjBad.py"),
    ) if compiled else ()
    steps = (BuildStep(0, "validate", "validate:demo", "up-to-date"),
             BuildStep(1, "compile", "compile:demo:amd64:factory.core/ObjConfig.py", "run",
                       "linux/amd64", started + timedelta(seconds=1), 0.4,
                       "changed file dependency app/factory.core/ObjConfig.py",
                       json.dumps({"values": {"seconds": 0.4}})))
    run = BuildRun(guid, package, "failed" if failed else "success", started,
                   started + timedelta(seconds=12.5), 12.5, "linux/amd64", "x86_64",
                   "Linux 6.1", json.dumps({"skip_push": True}), "doit pipeline:demo", 2,
                   int(failed))
    return BuildRecord(run, steps, compiles)
