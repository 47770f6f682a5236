"""Report stage: the HTML build report, its JSON summary for CI gates, and `axion explain`.

The report task runs inside the run it reports on, before that run is recorded, so
the task only asks for the report: the recording reporter writes it when the run
completes, right after storing the run, from the run's own record (also when a
stage failed and the report task itself never ran). Without the recording
reporter, the task writes the report of the last recorded build.

What the report shows is computed in summary.py; the records database (records.py,
SQLAlchemy) is opened inside the functions that read it, never at import.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from axion_build.adapters.fs import write_if_changed
from axion_build.config.flags import Flags, current_flags
from axion_build.config.model import PackageConfig
from axion_build.records.model import STEP_STATUSES, BuildRecord, BuildRun
from axion_build.records.runstate import ACTIVE_ENV
from axion_build.records.summary import compile_matrix, summarize, timeline
from axion_build.render import environment, render

HTML_TEMPLATE = "reports/build_report.html.j2"
TEXT_TEMPLATE = "reports/build_report.txt.j2"


def request_report(package: str) -> dict:
    """doit action: leave the report to the recording reporter, or write the last build's."""
    if os.environ.get(ACTIVE_ENV) in (str(os.getpid()), str(os.getppid())):
        print(f"report of {package}: written when this run completes")
        return {"deferred": True}
    for line in publish_reports({package}, {}, current_flags()):
        print(line)
    return {"deferred": False}


def prepare_reports(packages: Iterable[str]) -> dict[str, Any]:
    """What a report needs that can be had before the run ends: each package's registry
    overview as it stands (used when the run pushes nothing; the requests run while the
    templates compile) and the templates compiled."""
    from concurrent.futures import ThreadPoolExecutor

    from axion_build.records.store import package_config

    configs = [cfg for p in packages if (cfg := package_config(p)) is not None]
    with ThreadPoolExecutor(max_workers=4) as pool:
        views = {cfg.name: pool.submit(registry_overview, cfg) for cfg in configs}
        for template in (HTML_TEMPLATE, TEXT_TEMPLATE):
            environment().get_template(template)
        return {name: view.result() for name, view in views.items()}


def publish_reports(packages: Iterable[str], records: Mapping[str, BuildRecord],
                    flags: Flags, early: Mapping[str, Any] | None = None) -> list[str]:
    """Write (and with --notify mail) the report of each package; messages, never raises.

    `early` holds registry overviews taken while the run went (`prepare_reports`); one
    is shown only when the run's record has no image or push step that did work.
    """
    from axion_build.records.store import package_config

    lines = []
    for package in sorted(packages):
        cfg = package_config(package)
        if cfg is None:
            lines.append(f"report of {package} not written: its config does not load")
            continue
        record = records.get(package)
        view = (early or {}).get(package) if record and not registry_touched(record) else None
        try:
            lines += write_report(cfg, record, flags.notify, view)
        except Exception as exc:  # a report problem never fails the build
            lines.append(f"WARNING: report of {package} not written: "
                         f"{type(exc).__name__}: {exc}")
    return lines


def registry_touched(record: BuildRecord) -> bool:
    """Whether the run may have changed the registry: an image or push step did work."""
    return any(s.Stage in ("image", "push") and s.Status in ("run", "failed")
               for s in record.steps)


def write_report(cfg: PackageConfig, record: BuildRecord | None, notify: str = "",
                 registry_now: Any = None) -> list[str]:
    """Render the report of `record` (default: the last recorded build) and its summary;
    `registry_now` is the registry overview when it was already taken."""
    from axion_build.records.store import latest_runs, load_record, open_engine, records_url

    notes: list[str] = []
    source, recent = record, []
    try:
        engine = open_engine(records_url(cfg))
        recent = latest_runs(engine, cfg.name, 12)
        if record is None and recent:
            record = load_record(engine, recent[0].BuildGuid)
        if record is not None:
            source = compile_source(engine, record)
        engine.dispose()
    except Exception as exc:
        notes.append(f"records database not readable ({type(exc).__name__}: {exc}); "
                     "history and earlier compile results are missing")
    if record is None:
        return [f"report of {cfg.name} not written: "
                + (notes[0] if notes else "no build recorded yet")]
    if source is not record and source is not None:
        notes.append(f"compile results from build {source.run.BuildGuid} of "
                     f"{source.run.StartTime:%Y-%m-%d %H:%M:%S} UTC, the most recent "
                     "build that compiled")
    summary = summarize(record, source)
    context = report_context(cfg, record, summary, source, recent, notes, registry_now)
    html, text = render(HTML_TEMPLATE, **context), render(TEXT_TEMPLATE, **context)
    paths = write_outputs(cfg, record, summary, html, text)
    lines = [f"report of {cfg.name}: {paths[0]}"]
    if notify:
        lines.append(mail_report(cfg, summary, notify, text, html))
    return lines


def compile_source(engine, record: BuildRecord) -> BuildRecord | None:
    """The build whose compile results the report shows: this one, else the most recent
    build before it that compiled (a `--skip-compile` run compiles nothing)."""
    from axion_build.records.store import last_compiling_run, load_record

    if record.compiles:
        return record
    guid = last_compiling_run(engine, record.run.Package, record.run.StartTime)
    return load_record(engine, guid) if guid else None


def write_outputs(cfg: PackageConfig, record: BuildRecord, summary: dict, html: str,
                  text: str) -> list[Path]:
    """latest.html, latest.txt, summary.json, and a copy of the report per build."""
    folder = cfg.build_dir / "report"
    stamp = f"{record.run.StartTime:%Y%m%dT%H%M%S.%f}-{record.run.BuildGuid[:8]}"
    outputs = {folder / "latest.html": html, folder / "latest.txt": text,
               folder / "summary.json": json.dumps(summary, indent=2) + "\n",
               folder / "builds" / f"{stamp}.html": html,
               folder / "builds" / f"{stamp}.json": json.dumps(summary, indent=2) + "\n"}
    for path, content in outputs.items():
        write_if_changed(path, content)
    return list(outputs)


def mail_report(cfg: PackageConfig, summary: dict, to: str, text: str, html: str) -> str:
    """Mail the report; a failure is a message, the report stays on disk."""
    from axion_build.adapters.smtp import NotifyError, send_report

    subject = (f"[axion] {cfg.name} build {summary['status']} in "
               f"{summary['duration_seconds']:.1f} s ({summary['guid'][:8]})")
    try:
        sent = send_report(cfg.smtp, to, subject, text, html)
    except NotifyError as exc:
        return f"WARNING: report not mailed: {exc}"
    return f"report of {cfg.name} mailed to {', '.join(sent)}"


def registry_overview(cfg: PackageConfig) -> Any:
    """The live registry overview of the package's repositories."""
    from axion_build.adapters.registry import overview
    from axion_build.names import repository_prefix

    # every run renders this: `latest` of each repository, the other tags only counted
    return overview(cfg.registry, repository_prefix(cfg), max_tags=1)


def registry_view(cfg: PackageConfig, summary: dict, view: Any = None) -> Any:
    """The registry overview (taken now unless given) and the digests this run pushed."""
    pushed = {p["digest"] for p in summary["pushes"]["list"] if p["digest"]}
    return {"view": view or registry_overview(cfg), "pushed": pushed}


def report_context(cfg: PackageConfig, record: BuildRecord, summary: dict,
                   source: BuildRecord | None, recent: list[BuildRun],
                   notes: list[str], registry_now: Any = None) -> dict[str, Any]:
    """Everything the report templates show."""
    run = record.run
    return {"cfg": cfg, "run": run, "summary": summary, "notes": notes,
            "steps": record.steps, "timeline": timeline(record),
            "ran": [s for s in record.steps if s.Status in ("run", "failed")],
            "matrix": compile_matrix(source), "registry": registry_view(cfg, summary, registry_now),
            "recent": recent or [run], "recent_max": max([r.ElapsedSeconds or 0 for r in recent]
                                                         + [run.ElapsedSeconds or 0, 0.001]),
            "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")}


def summary_json(cfg: PackageConfig, guid: str | None = None) -> dict[str, Any]:
    """The summary of build `guid` (default: the package's last build), for CI gates."""
    from axion_build.records.store import open_engine, records_url

    engine = open_engine(records_url(cfg))
    try:
        record = recorded_build(engine, cfg, guid)
        return summarize(record, compile_source(engine, record))
    finally:
        engine.dispose()


def recorded_build(engine, cfg: PackageConfig, guid: str | None = None) -> BuildRecord:
    """A recorded build of the package (default: the last); LookupError when there is none."""
    from axion_build.records.store import database_key, latest_runs, load_record, records_url

    if guid is None:
        runs = latest_runs(engine, cfg.name, 1)
        guid = runs[0].BuildGuid if runs else None
    record = load_record(engine, guid) if guid else None
    if record is None or record.run.Package != cfg.name:
        which = f"build {guid}" if guid else "build"
        raise LookupError(f"no {which} of {cfg.name} recorded in "
                          f"{database_key(records_url(cfg))}")
    return record


def explain_last_run(cfg: PackageConfig) -> str:
    """Which tasks of the last build ran and why, which were up to date, which failed."""
    from axion_build.records.store import open_engine, records_url

    engine = open_engine(records_url(cfg))
    try:
        record = recorded_build(engine, cfg)
    finally:
        engine.dispose()
    run = record.run
    lines = [f"{run.Package} build {run.BuildGuid}: {run.Status} in {run.ElapsedSeconds:.1f} s",
             f"  started {run.StartTime:%Y-%m-%d %H:%M:%S} UTC on {run.HostArch}, "
             f"platform {run.Platform}"]
    groups = {status: [s for s in record.steps if s.Status == status] for status in STEP_STATUSES}
    cached = {s.Task: s.detail.get("values", {}).get("cache") for s in groups["run"]
              if s.detail.get("values", {}).get("cache")}
    if cached:
        lines.append(f"  {len(cached)} of {len(groups['run'])} tasks that ran took their "
                     "output from the registry cache")
    if groups["run"]:
        lines.append(f"ran ({len(groups['run'])}):")
        lines += [f"  {s.Task}  [{s.ElapsedSeconds or 0:.2f} s]  {s.Reason}"
                  + (f"; {cached[s.Task]}" if s.Task in cached else "") for s in groups["run"]]
    if groups["failed"]:
        lines.append(f"failed ({len(groups['failed'])}):")
        for step in groups["failed"]:
            lines.append(f"  {step.Task}  [{step.ElapsedSeconds or 0:.2f} s]  {step.Reason}")
            lines += [f"      {line}" for line in step.Error.splitlines()[:12]]
    if groups["skipped"]:
        lines.append(f"skipped ({len(groups['skipped'])}):")
        lines += [f"  {s.Task}  {s.Reason}" for s in groups["skipped"]]
    if groups["up-to-date"]:
        lines.append(f"up to date ({len(groups['up-to-date'])}):")
        by_stage: dict[str, list[str]] = {}
        for step in groups["up-to-date"]:
            by_stage.setdefault(step.Stage, []).append(step.Task)
        for stage, names in by_stage.items():
            shown = ", ".join(names) if len(names) <= 6 else f"{len(names)} tasks"
            lines.append(f"  {stage}: {shown}")
    return "\n".join(lines) + "\n"
