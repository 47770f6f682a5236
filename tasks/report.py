"""The report stage: the build report of each package, at the end of every run."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from axion_build.config.model import PackageConfig
from axion_build.config.packages import PACKAGES
from axion_build.records.report import request_report


def task_report() -> Iterator[dict]:
    """HTML build report and JSON summary of each package, for every run."""
    for cfg in PACKAGES.valid():
        yield report_task(cfg)


def report_task(cfg: PackageConfig, after: Sequence[str] = ()) -> dict:
    """The report task of one package; `after` names the tasks it waits for."""
    return {
        "name": cfg.name,
        "doc": f"build report of {cfg.name} (build/{cfg.name}/report/latest.html)",
        "actions": [(request_report, [cfg.name])],
        "uptodate": [False],
        "task_dep": list(after),
        "meta": {"axion": {"stage": "report", "package": cfg.name}},
        "verbosity": 2,
    }
