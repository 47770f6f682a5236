"""doit's settings for a project: the ones a user's repo gets from this package."""

from __future__ import annotations

from typing import Any

from axion_build import paths


def doit_config() -> dict[str, Any]:
    """DOIT_CONFIG of a project's dodo.py: records reporter, keep going, database in build/."""
    from axion_build.records.reporter import RecordingReporter

    database = paths.doit_database()
    # doit's dependency database lives in the build folder, cached with it in CI
    database.parent.mkdir(parents=True, exist_ok=True)
    return {
        "default_tasks": ["validate"],
        # a failed module must not stop the others compiling; every later stage depends on
        # the earlier ones, so nothing downstream of a failure runs
        "continue": True,
        # records every run, step and compiled module; console output as doit's own
        "reporter": RecordingReporter,
        "dep_file": str(database),
        "backend": "sqlite3",
        "verbosity": 2,
    }
