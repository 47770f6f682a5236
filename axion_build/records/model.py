"""What a build record holds: one run of one package, its steps and compiled modules.

Plain dataclasses, free of SQLAlchemy: the reporter builds them during every run and
the report reads them, while records.py (loaded only when the run is written or read
back) maps them onto the seed's three tables.
"""

from __future__ import annotations

import json
from dataclasses import MISSING, asdict, dataclass, field, fields
from datetime import datetime
from typing import Any

STEP_STATUSES = ("run", "up-to-date", "failed", "skipped")
TEXT_LIMIT = 60000  # compile errors and details are cut here, whatever the backend


@dataclass(frozen=True)
class BuildRun:
    """One package's part of one doit run (a row of log_build_run)."""

    BuildGuid: str
    Package: str
    Status: str
    StartTime: datetime
    EndTime: datetime
    ElapsedSeconds: float
    Platform: str = ""
    HostArch: str = ""
    HostOS: str = ""
    Flags: str = "{}"
    Command: str = ""
    TaskCount: int = 0
    FailedCount: int = 0

    @property
    def flags(self) -> dict[str, Any]:
        """The run's flags as a mapping."""
        return json.loads(self.Flags or "{}")


@dataclass(frozen=True)
class BuildStep:
    """One task of a run: run, up-to-date, failed or skipped, and why it ran."""

    Seq: int
    Stage: str
    Task: str
    Status: str
    Platform: str = ""
    StartTime: datetime | None = None
    ElapsedSeconds: float | None = None
    Reason: str = ""
    Detail: str = ""
    Error: str = ""

    @property
    def detail(self) -> dict[str, Any]:
        """The task's saved values and meta, as a mapping."""
        return json.loads(self.Detail) if self.Detail else {}


@dataclass(frozen=True)
class BuildCompile:
    """One module compiled (or found up to date) for one platform."""

    FactorySet: str
    Module: str
    Platform: str
    CompileSuccess: str
    CompileStatus: str
    CompileError: str = ""
    ElapsedSeconds: float | None = None
    Task: str = ""


@dataclass(frozen=True)
class BuildRecord:
    """Everything recorded about one package in one run."""

    run: BuildRun
    steps: tuple[BuildStep, ...] = ()
    compiles: tuple[BuildCompile, ...] = field(default=())

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready mapping (timestamps as ISO text), for the spool."""
        return json.loads(json.dumps(asdict(self), default=datetime.isoformat))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BuildRecord:
        """The record `as_json` produced."""
        return cls(run=from_row(BuildRun, data["run"]),
                   steps=tuple(from_row(BuildStep, s) for s in data["steps"]),
                   compiles=tuple(from_row(BuildCompile, c) for c in data["compiles"]))


def from_row(kind: type, row: Any) -> Any:
    """A record dataclass from a database row or JSON mapping."""
    data = dict(row._mapping if hasattr(row, "_mapping") else row)
    values = {}
    for spec in fields(kind):
        value = data.get(spec.name)
        if value is None and spec.default is not MISSING:
            continue
        if isinstance(value, str) and spec.name in ("StartTime", "EndTime"):
            value = datetime.fromisoformat(value)
        values[spec.name] = value
    return kind(**values)


def clip(text: str, limit: int = TEXT_LIMIT) -> str:
    """`text` cut to fit its column, marked where it was cut."""
    return text if len(text) <= limit else text[: limit - 20] + "\n[... cut ...]"
