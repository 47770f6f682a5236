"""The doit reporter that records every run: console output as usual, records at the end.

Events are buffered in memory (doit calls every reporter hook in the main process,
also with `doit -n N`) and written once at `complete_run` through records.py.

Why a task ran is asked from doit itself: the runner calls the reporter's
`get_status` hook immediately before its own up-to-date check, in the main
process, on the same files and dependency database. The hook makes the call
`doit info` makes, `Globals.dep_manager.get_status(task, tasks, get_log=True)`,
whose `reasons` name every cause (changed file deps, missing targets, false
`uptodate` checks, ...), not only the first one the runner stops at. Each
task's check thus runs twice; that costs the check, never the work.
"""

from __future__ import annotations

import json
import os
import platform as host
import shlex
import sys
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from doit import Globals
from doit.exceptions import BaseFail, UnmetDependency
from doit.reporter import ConsoleReporter

from tasks.config import native_platform
from tasks.flags import Flags, current_flags
from tasks.records import BuildCompile, BuildRecord, BuildRun, BuildStep, clip, store_records

ACTIVE_ENV = "AXION_RECORDING_REPORTER"
SECRET_WORDS = ("password", "secret", "token")
# doit's file-level reasons, in the words of the records
FILE_REASONS = (("missing_target", "missing target"),
                ("changed_file_dep", "changed file dependency"),
                ("added_file_dep", "file dependency added"),
                ("removed_file_dep", "file dependency removed"),
                ("missing_file_dep", "missing file dependency"))


@dataclass
class StepEvent:
    """What the reporter saw of one task, in the order doit selected it."""

    seq: int
    name: str
    predicted: str = ""
    reason: str = ""
    status: str = ""
    started: datetime | None = None
    elapsed: float | None = None
    error: str = ""
    clock: float = field(default=0.0, repr=False)

    def start(self) -> None:
        """The task's actions begin."""
        self.started, self.clock = utc_now(), time.monotonic()

    def finish(self, status: str, error: str = "") -> None:
        """The task ended (or was passed over) with `status`."""
        self.status, self.error = status, error
        if self.started is not None:
            self.elapsed = round(time.monotonic() - self.clock, 3)


@dataclass(frozen=True)
class RunContext:
    """Facts of the whole doit run, shared by every package's record."""

    started: datetime
    ended: datetime
    elapsed: float
    flags: Flags
    errors: tuple[str, ...] = ()
    command: str = ""


def utc_now() -> datetime:
    """Now, as the naive UTC timestamp the records store."""
    return datetime.now(UTC).replace(tzinfo=None)


def axion_meta(task) -> dict[str, Any]:
    """The build-records part of a task's doit `meta`."""
    return dict((task.meta or {}).get("axion", {}))


def stage_of(task) -> str:
    """The stage of a task: its meta, else the part of its name before ':'."""
    return axion_meta(task).get("stage") or task.name.split(":", 1)[0]


def package_of(task) -> str:
    """The package of a task: its meta, else the second part of `stage:package[:...]`."""
    meta = axion_meta(task)
    if "package" in meta:
        return meta["package"] or ""
    parts = task.name.split(":")
    return parts[1] if len(parts) > 1 and parts[0] != "base" else ""


def recorded(task) -> bool:
    """Tasks worth a record: they have actions and are not private."""
    return bool(task.actions) and not task.name.startswith("_")


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
    """What a false `uptodate` entry means, named after the check."""
    if check is False or check is None:
        return "uptodate is False (runs every time)"
    if isinstance(check, str):
        return f"uptodate command failed ({check})"
    name = getattr(check, "__name__", type(check).__name__)
    if name == "result_dep":
        return f"result of {check.dep_name} changed (result_dep)"
    if name == "timeout":
        return "timeout expired (timeout)"
    return f"changed setting ({name})"


def short_paths(paths: Any, cwd: Path, shown: int = 5) -> str:
    """Paths relative to `cwd` where possible, the first few of them."""
    items = sorted(str(p) for p in (paths if isinstance(paths, list | tuple | set) else [paths]))
    names = [str(Path(p).relative_to(cwd)) if Path(p).is_relative_to(cwd) else p
             for p in items]
    more = f" (+{len(names) - shown} more)" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def reachable(tasks: Mapping, selected: list[str]) -> set[str]:
    """Every task the selection runs, following task_dep and setup tasks."""
    seen: set[str] = set()
    todo = list(selected)
    while todo:
        name = todo.pop()
        if name in seen or name not in tasks:
            continue
        seen.add(name)
        todo.extend(tasks[name].task_dep)
        todo.extend(tasks[name].setup_tasks)
    return seen


def command_line(argv: list[str]) -> str:
    """The command that started the run, with secret-looking values masked."""
    masked = [arg.split("=", 1)[0] + "=***"
              if "=" in arg and any(w in arg.lower() for w in SECRET_WORDS) else arg
              for arg in argv]
    if not masked:
        return ""
    program = Path(masked[0]).name
    return shlex.join(["doit" if program == "__main__.py" else program, *masked[1:]])


def host_os() -> str:
    """Kernel and distribution of the build host."""
    try:
        distro = host.freedesktop_os_release().get("PRETTY_NAME", "")
    except OSError:
        distro = ""
    text = f"{host.system()} {host.release()}"
    return f"{text} ({distro})" if distro else text


def to_step(event: StepEvent, task) -> BuildStep:
    """The record of one task; saved values and meta go to the JSON detail."""
    meta = axion_meta(task)
    values = {k: v for k, v in (task.values or {}).items() if not str(k).startswith("_")}
    extra = {k: v for k, v in meta.items() if k not in ("stage", "package", "platform")}
    detail = json.dumps({"values": values, "meta": extra}, default=str, sort_keys=True)
    return BuildStep(Seq=event.seq, Stage=stage_of(task), Task=clip(task.name, 500),
                     Status=event.status or "skipped", Platform=meta.get("platform", ""),
                     StartTime=event.started, ElapsedSeconds=event.elapsed,
                     Reason=clip(event.reason or ("" if event.status else "not run"), 4000),
                     Detail=clip(detail) if values or extra else "", Error=clip(event.error))


def to_compile(step: BuildStep, task) -> BuildCompile | None:
    """The compile record of a module task that compiled, was up to date, or failed."""
    meta = axion_meta(task)
    outcome = {"run": "compiled", "up-to-date": "up-to-date", "failed": "failed"}
    if step.Stage != "compile" or not meta.get("module") or step.Status not in outcome:
        return None
    failed = step.Status == "failed"
    return BuildCompile(FactorySet=meta.get("factory_set", ""), Module=meta["module"],
                        Platform=meta.get("platform", ""), CompileSuccess="N" if failed else "Y",
                        CompileStatus=outcome[step.Status], CompileError=step.Error,
                        ElapsedSeconds=step.ElapsedSeconds, Task=step.Task)


def assemble_records(events: list[StepEvent], tasks: Mapping,
                     context: RunContext) -> dict[str, BuildRecord]:
    """One record per package of the run; tasks of no package go to every record (pure).

    A package whose only tasks were report tasks built nothing: it gets no record,
    so its report shows the last build.
    """
    own: dict[str, list[StepEvent]] = {}
    shared = []
    for event in events:
        package = package_of(tasks[event.name])
        (own.setdefault(package, []) if package else shared).append(event)
    if shared and not own:
        own[""] = []
    records = {}
    for package, mine in own.items():
        chosen = sorted(mine + shared, key=lambda e: e.seq)
        if all(stage_of(tasks[e.name]) == "report" for e in chosen):
            continue
        steps = [to_step(e, tasks[e.name]) for e in chosen]
        compiles = [c for s, e in zip(steps, chosen, strict=True)
                    if (c := to_compile(s, tasks[e.name])) is not None]
        records[package] = BuildRecord(run=run_row(package, steps, context), steps=tuple(steps),
                                       compiles=tuple(compiles))
    return records


def run_row(package: str, steps: list[BuildStep], context: RunContext) -> BuildRun:
    """The log_build_run row of one package in this run."""
    import uuid

    failed = sum(s.Status == "failed" for s in steps)
    platforms = sorted({s.Platform for s in steps if s.Platform})
    platform = ",".join(platforms) or context.flags.platform or native_platform()
    return BuildRun(BuildGuid=str(uuid.uuid4()), Package=package,
                    Status="failed" if failed or context.errors else "success",
                    StartTime=context.started, EndTime=context.ended,
                    ElapsedSeconds=context.elapsed, Platform=platform[:200],
                    HostArch=host.machine(), HostOS=host_os()[:200],
                    Flags=json.dumps(context.flags.as_dict(), sort_keys=True),
                    Command=context.command, TaskCount=len(steps), FailedCount=failed)


class RecordingReporter(ConsoleReporter):
    """Console output, plus every run in the build records and the requested reports."""

    desc = "console output; records every run in the build records database"

    def __init__(self, outstream, options):
        super().__init__(outstream, options)
        self.started, self.clock = utc_now(), time.monotonic()
        self.tasks: Mapping = {}
        self.selected: set[str] = set()
        self.events: dict[str, StepEvent] = {}
        self.errors: list[str] = []
        # tells the report task (also in worker processes) the report comes at the end
        os.environ[ACTIVE_ENV] = str(os.getpid())

    def initialize(self, tasks, selected_tasks):
        """Keep the tasks of the run and which of them the selection reaches."""
        from tasks.runguard import hold_run_lock

        # before any task's state is read: a second run waits for the first here
        hold_run_lock(Globals.dep_manager.backend.name)
        super().initialize(tasks, selected_tasks)
        self.tasks = tasks
        self.selected = reachable(tasks, list(selected_tasks))
        # progress: how many of each stage's tasks this run has reached so far
        self.stage_total = Counter(stage_of(tasks[n]) for n in self.selected if tasks[n].actions)
        self.stage_seen: Counter = Counter()

    def progress(self, task) -> str:
        """` [compile 3/16]`: the task's stage and how far this run is through it."""
        stage = stage_of(task)
        self.stage_seen[stage] += 1
        total = self.stage_total.get(stage, 0)
        return f"  [{stage} {self.stage_seen[stage]}/{total}]" if total > 1 else ""

    def event(self, task) -> StepEvent | None:
        """The buffered event of `task` (made on first sight), None if it is not recorded."""
        if not recorded(task):
            return None
        if task.name not in self.events:
            self.events[task.name] = StepEvent(seq=len(self.events), name=task.name)
        return self.events[task.name]

    def get_status(self, task):
        """Ask doit why the task would run, just before the runner's own check."""
        super().get_status(task)
        if (step := self.event(task)) is not None:
            step.predicted, step.reason = predict(task, self.tasks)

    def execute_task(self, task):
        """The task starts running: doit's line, with the stage's progress."""
        if task.actions and task.name[0] != "_":
            self.write(f".  {task.title()}{self.progress(task)}\n")
        if (step := self.event(task)) is not None:
            step.start()
            if step.predicted == "up-to-date":
                step.reason = "forced (--always-execute)"

    def add_success(self, task):
        """The task ran and succeeded."""
        super().add_success(task)
        if (step := self.event(task)) is not None:
            step.finish("run")

    def add_failure(self, task, fail: BaseFail):
        """The task failed, or never ran because a task it needs failed."""
        super().add_failure(task, fail)
        if (step := self.event(task)) is None:
            return
        if isinstance(fail, UnmetDependency):
            step.reason = f"not run: {', '.join(fail.message.split())} did not succeed"
            step.finish("skipped")
        else:
            step.finish("failed", fail.get_msg().strip())

    def skip_uptodate(self, task):
        """The task was up to date."""
        super().skip_uptodate(task)
        if task.actions:
            self.progress(task)
        if (step := self.event(task)) is not None:
            step.reason = ""
            step.finish("up-to-date")

    def skip_ignore(self, task):
        """The task is ignored (`doit ignore`)."""
        super().skip_ignore(task)
        if (step := self.event(task)) is not None:
            step.reason = "ignored (doit ignore)"
            step.finish("skipped")

    def runtime_error(self, msg):
        """doit itself failed: the run is recorded as failed."""
        super().runtime_error(msg)
        self.errors.append(msg)

    def complete_run(self):
        """Print failures as doit does, then write the records and the requested reports."""
        super().complete_run()
        try:
            self.finish_run()
        except Exception as exc:  # recording never changes the build's outcome
            self.write(f"axion: WARNING: build records not written: "
                       f"{type(exc).__name__}: {exc}\n")
        finally:
            if os.environ.get(ACTIVE_ENV) == str(os.getpid()):
                del os.environ[ACTIVE_ENV]

    def finish_run(self) -> None:
        """Record one run per package, then write (and mail) the reports asked for."""
        from tasks.report import publish_reports

        self.mark_not_reached()
        context = RunContext(started=self.started, ended=utc_now(),
                             elapsed=round(time.monotonic() - self.clock, 3),
                             flags=current_flags(), errors=tuple(self.errors),
                             command=command_line(sys.argv))
        events = sorted(self.events.values(), key=lambda e: e.seq)
        records = assemble_records(events, self.tasks, context)
        for line in store_records(records):
            self.write(f"axion: {line}\n")
        for line in publish_reports(self.reports_requested(), records, context.flags):
            self.write(f"axion: {line}\n")

    def mark_not_reached(self) -> None:
        """Tasks the selection needed that never came up: the run stopped first."""
        for name in sorted(self.selected):
            task = self.tasks[name]
            if recorded(task) and name not in self.events:
                step = self.event(task)
                step.reason = "not reached: the run stopped before it"
                step.finish("skipped")

    def reports_requested(self) -> set[str]:
        """Packages whose report task is part of this run, whether it ran or not."""
        return {package_of(self.tasks[name]) for name in self.selected
                if stage_of(self.tasks[name]) == "report"} - {""}
