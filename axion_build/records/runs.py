"""What the reporter saw of a run, turned into one build record per package (pure).

Tasks are told apart by their doit `meta["axion"]` (stage, package, platform, and for
compile tasks factory set and module), else by the `stage:package[:...]` naming of
the pipeline's task creators.
"""

from __future__ import annotations

import json
import platform as host
import shlex
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from axion_build.config.flags import Flags
from axion_build.config.model import native_platform
from axion_build.records.model import BuildCompile, BuildRecord, BuildRun, BuildStep, clip

SECRET_WORDS = ("password", "secret", "token")
CACHED = "registry-cache"  # the compile status of a module taken from the registry cache


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
    interrupted: str = ""  # the signal that stopped the run ('SIGINT', 'SIGTERM'), if one did


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


INTERRUPTED = "interrupted by "  # how a step the run stopped in the middle of ends


def to_compile(step: BuildStep, task) -> BuildCompile | None:
    """The compile record of a module task that compiled, was up to date, or failed."""
    meta = axion_meta(task)
    outcome = {"run": "compiled", "up-to-date": "up-to-date", "failed": "failed"}
    if step.Stage != "compile" or not meta.get("module") or step.Status not in outcome:
        return None
    failed = step.Status == "failed"
    if failed and step.Error.startswith(INTERRUPTED):
        return None  # the run stopped while it compiled: not a module that failed
    status = outcome[step.Status]
    if status == "compiled" and (task.values or {}).get("cache"):
        status = CACHED
    return BuildCompile(FactorySet=meta.get("factory_set", ""), Module=meta["module"],
                        Platform=meta.get("platform", ""), CompileSuccess="N" if failed else "Y",
                        CompileStatus=status, CompileError=step.Error,
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
        steps += run_errors(context, len(events))
        records[package] = BuildRecord(run=run_row(package, steps, context), steps=tuple(steps),
                                       compiles=tuple(compiles))
    return records


def run_errors(context: RunContext, seq: int) -> list[BuildStep]:
    """doit's own errors (a crash, its state not saved) as one failed step of the run, so
    they count as a failure and their text is kept."""
    if not context.errors:
        return []
    return [BuildStep(Seq=seq, Stage="run", Task="doit", Status="failed",
                      Reason="doit itself failed", Error=clip("\n\n".join(context.errors)))]


def run_status(failed: int, context: RunContext) -> str:
    """`interrupted` when a signal stopped the run, else `failed` or `success`."""
    if context.interrupted:
        return "interrupted"
    return "failed" if failed or context.errors else "success"


def run_row(package: str, steps: list[BuildStep], context: RunContext) -> BuildRun:
    """The log_build_run row of one package in this run."""
    import uuid

    from axion_build.records.runstate import run_guid

    failed = sum(s.Status == "failed" for s in steps)
    platforms = sorted({s.Platform for s in steps if s.Platform})
    platform = ",".join(platforms) or context.flags.platform or native_platform()
    return BuildRun(BuildGuid=run_guid(package) or str(uuid.uuid4()), Package=package,
                    Status=run_status(failed, context),
                    StartTime=context.started, EndTime=context.ended,
                    ElapsedSeconds=context.elapsed, Platform=platform[:200],
                    HostArch=host.machine(), HostOS=host_os()[:200],
                    Flags=json.dumps(context.flags.as_dict(), sort_keys=True),
                    Command=context.command, TaskCount=len(steps), FailedCount=failed)
