"""Axion Build: the doit tasks of every package in config/."""

from pathlib import Path

from tasks.compile import task_compile  # noqa: F401
from tasks.images import task_image  # noqa: F401
from tasks.keys import task_keys  # noqa: F401
from tasks.pipeline import task_base, task_pipeline  # noqa: F401
from tasks.push import task_push  # noqa: F401
from tasks.report import task_report  # noqa: F401
from tasks.reporter import RecordingReporter
from tasks.runtime_config import task_config  # noqa: F401
from tasks.scaffold import task_scaffold  # noqa: F401
from tasks.validate import task_validate  # noqa: F401

# doit's dependency database lives in the build folder, cached with it in CI
Path(__file__).parent.joinpath("build").mkdir(exist_ok=True)

DOIT_CONFIG = {
    "default_tasks": ["validate"],
    # a failed module must not stop the others compiling; every later stage depends on
    # the earlier ones, so nothing downstream of a failure runs
    "continue": True,
    # records every run, step and compiled module; console output as doit's own
    "reporter": RecordingReporter,
}
