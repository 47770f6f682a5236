"""Why a task runs, in doit's own words, as one line of the build records.

The recording reporter asks doit from its `get_status` hook, which the runner calls
immediately before its own up-to-date check, in the main process, on the same files
and dependency database. The question is the one `doit info` asks,
`Globals.dep_manager.get_status(task, tasks, get_log=True)`, whose `reasons` name
every cause (changed file deps, missing targets, false `uptodate` checks, ...), not
only the first one the runner stops at. Each task's check thus runs twice; that
costs the check, never the work.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from doit import Globals

# doit's file-level reasons, in the words of the records
FILE_REASONS = (("missing_target", "missing target"),
                ("changed_file_dep", "changed file dependency"),
                ("added_file_dep", "file dependency added"),
                ("removed_file_dep", "file dependency removed"),
                ("missing_file_dep", "missing file dependency"))


def predict(task, tasks: dict) -> tuple[str, str]:
    """doit's own verdict for `task` with every reason: ('run'|'up-to-date'|'error', why)."""
    dep_manager = Globals.dep_manager
    if dep_manager is None:
        return "", ""
    first_run = dep_manager.backend.get(task.name, "checker:") is None
    changed = task.dep_changed
    try:
        status = dep_manager.get_status(task, tasks, get_log=True)
    except Exception as exc:  # the runner's own check reports it as the task's failure
        return "error", f"checking dependencies failed: {exc}"
    finally:
        task.dep_changed = changed  # actions see the runner's value, not ours
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
