"""The doit internals Axion Build relies on still exist with the shapes it uses.

pyproject.toml pins doit to the range these tests cover; a doit release that renames or
reshapes any of them fails here, loudly, before a build quietly records wrong reasons.
"""

from __future__ import annotations

import inspect
from importlib.metadata import version

import doit
from doit.dependency import (
    Dependency,
    DependencyStatus,
    SqliteDB,
    UptodateCalculator,
    get_file_md5,
)


def parameters(function) -> list[str]:
    return list(inspect.signature(function).parameters)


def test_the_installed_doit_is_in_the_pinned_range():
    major, minor = (int(part) for part in version("doit").split(".")[:2])
    assert (major, minor) == (0, 37)


def test_the_dependency_manager_has_what_the_records_wrap(tmp_path):
    manager = Dependency(SqliteDB, str(tmp_path / "doit.sqlite3"))
    try:
        # freshness.RefreshStamps writes stamps through the backend's setter
        assert callable(manager._set) and parameters(manager._set) == ["task_id", "dependency",
                                                                       "value"]
        assert callable(manager._get)
        # why.watch_checks and runstate wrap these three, keeping their signatures
        assert parameters(manager.get_status) == ["task", "tasks_dict", "get_log"]
        assert parameters(manager.remove_success) == ["task"]
        assert parameters(manager.close) == []
        assert manager.backend.get("no-such-task", "checker:") is None
        assert isinstance(manager.backend.name, str)
    finally:
        manager.close()


def test_dependency_status_carries_status_reasons_and_error():
    status = DependencyStatus(True)
    assert status.status == "up-to-date"
    assert hasattr(status, "reasons") and hasattr(status, "error_reason")
    assert callable(status.get_error_message)
    assert parameters(status.add_reason) == ["reason", "arg", "status"]
    # the reason keys why.describe_reasons reads are the ones doit's own checks add
    source = inspect.getsource(Dependency.get_status)
    for key in ("uptodate_false", "checker_changed", "missing_target", "changed_file_dep",
                "added_file_dep", "removed_file_dep", "missing_file_dep",
                "has_no_dependencies"):
        assert f"'{key}'" in source or f'"{key}"' in source, key


def test_uptodate_calculators_and_globals_are_as_used():
    assert parameters(UptodateCalculator.setup) == ["self", "dep_manager", "tasks_dict"]
    assert parameters(get_file_md5) == ["path"]
    # the reporter reads doit's dependency manager from Globals
    assert hasattr(doit.Globals, "dep_manager")
