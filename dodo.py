"""Axion Build: the doit tasks of every package in config/."""

from pathlib import Path

from tasks.keys import task_keys  # noqa: F401
from tasks.runtime_config import task_config  # noqa: F401
from tasks.validate import task_validate  # noqa: F401

# doit's dependency database lives in the build folder, cached with it in CI
Path(__file__).parent.joinpath("build").mkdir(exist_ok=True)

DOIT_CONFIG = {
    "default_tasks": ["validate"],
}
