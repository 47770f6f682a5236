"""Why a task runs, in doit's own words, as one line of the build records.

The recording reporter watches the runner's own up-to-date check (`watch_checks`):
the check is made with `get_log=True`, as `doit info` makes it, so its `reasons` name
every cause (changed file deps, missing targets, false `uptodate` checks, ...), not
only the first one a plain check stops at. Each task is checked once, by the runner,
in the main process, also with `doit -n N`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

# doit's file-level reasons, in the words of the records
FILE_REASONS = (("missing_target", "missing target"),
                ("changed_file_dep", "changed file dependency"),
                ("added_file_dep", "file dependency added"),
                ("removed_file_dep", "file dependency removed"),
                ("missing_file_dep", "missing file dependency"))


def watch_checks(dep_manager, seen: Callable[[Any, str, str], None]) -> None:
    """Make doit's up-to-date checks collect every reason and tell `seen(task, verdict,
    reason)` with verdict 'run', 'up-to-date' or 'error'."""
    check = dep_manager.get_status

    def get_status(task, tasks_dict, get_log=False):
        first_run = dep_manager.backend.get(task.name, "checker:") is None
        status = check(task, tasks_dict, get_log=True)
        seen(task, *verdict(status, first_run))
        return status

    dep_manager.get_status = get_status


def verdict(status, first_run: bool) -> tuple[str, str]:
    """doit's `DependencyStatus` as ('run'|'up-to-date'|'error', why)."""
    if status.status == "error":
        return "error", status.get_error_message() or "checking dependencies failed"
    if status.status == "up-to-date":
        return "up-to-date", ""
    return "run", describe_reasons(status.reasons, first_run, Path.cwd())


def describe_reasons(reasons: Mapping[str, Any], first_run: bool, cwd: Path) -> str:
    """doit's `DependencyStatus.reasons` as one line of text (pure)."""
    if first_run:
        return "first run (no successful run recorded)"
    parts = []
    if reasons.get("has_no_dependencies"):
        parts.append("no dependencies (runs every time)")
    parts += [uptodate_text(utd) for utd, _args, _kwargs in reasons.get("uptodate_false") or ()]
    if reasons.get("checker_changed"):
        parts.append("file checker changed ({} to {})".format(*reasons["checker_changed"]))
    for key, phrase in FILE_REASONS:
        if reasons.get(key):
            parts.append(f"{phrase} {short_paths(reasons[key], cwd)}")
    return "; ".join(parts)


def uptodate_text(check: Any) -> str:
    """What a false `uptodate` entry means: the check's own `reason`, else its name."""
    if check is False or check is None:
        return "uptodate is False (runs every time)"
    if isinstance(check, str):
        return f"uptodate command failed ({check})"
    name = getattr(check, "__name__", type(check).__name__)
    if name == "result_dep":
        return f"result of {check.dep_name} changed (result_dep)"
    if name == "timeout":
        return "timeout expired (timeout)"
    reason = getattr(check, "reason", None)
    if isinstance(reason, str) and reason:
        return f"{reason} ({name})"
    return f"changed setting ({name})"


def short_paths(paths: Any, cwd: Path, shown: int = 5) -> str:
    """Paths relative to `cwd` where possible, the first few of them."""
    items = sorted(str(p) for p in (paths if isinstance(paths, list | tuple | set) else [paths]))
    names = [str(Path(p).relative_to(cwd)) if Path(p).is_relative_to(cwd) else p
             for p in items]
    more = f" (+{len(names) - shown} more)" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more
