"""What a build report shows of one record: the JSON summary CI gates read, the step
timeline and the compile matrix with per-factory-set pass rates (pure)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from axion_build.records.model import STEP_STATUSES, BuildCompile, BuildRecord, BuildRun, BuildStep
from axion_build.records.runwarnings import run_warnings

TIMELINE_ROWS = 150


def summarize(record: BuildRecord, source: BuildRecord | None = None) -> dict[str, Any]:
    """The JSON summary CI gates read: status, timing, compile pass rates, images, pushes."""
    run, steps = record.run, record.steps
    counts = Counter(s.Status for s in steps)
    stages: dict[str, dict[str, Any]] = {}
    for step in steps:
        entry = stages.setdefault(step.Stage, {**dict.fromkeys(STEP_STATUSES, 0), "seconds": 0.0})
        entry[step.Status] = entry.get(step.Status, 0) + 1
        entry["seconds"] = round(entry["seconds"] + (step.ElapsedSeconds or 0.0), 3)
    images = [artifact(s, "tag", "image") for s in steps if s.Stage == "image"]
    pushes = [{**artifact(s, "ref", "pushed"), **supply(s)} for s in steps if s.Stage == "push"]
    return {
        "guid": run.BuildGuid, "package": run.Package, "status": run.Status,
        "started": f"{run.StartTime:%Y-%m-%dT%H:%M:%S}Z",
        "ended": f"{run.EndTime:%Y-%m-%dT%H:%M:%S}Z", "duration_seconds": run.ElapsedSeconds,
        "platform": run.Platform, "host": f"{run.HostArch} {run.HostOS}", "flags": run.flags,
        "tasks": {status: counts.get(status, 0) for status in STEP_STATUSES},
        "stages": stages,
        "compile": compile_summary(source, record),
        "failures": [{"task": s.Task, "stage": s.Stage, "error": s.Error}
                     for s in steps if s.Status == "failed"],
        "images": {"built": count(images, "run"), "up_to_date": count(images, "up-to-date"),
                   "failed": count(images, "failed"), "list": images},
        "pushes": {"pushed": sum(p["status"] == "run" and not p["skipped"] for p in pushes),
                   "skipped": sum(p["status"] == "up-to-date" or p["skipped"] for p in pushes),
                   "failed": count(pushes, "failed"), "list": pushes},
        "deployment": deployment_summary(steps),
        "warnings": run_warnings(s.detail.get("values") for s in steps),
    }


def deployment_summary(steps: list[BuildStep]) -> dict[str, Any] | None:
    """The run's deploy (None when it had none): where to, its gate's assertions (each
    passed, failed or skipped), and whether it went back to an earlier deployment."""
    step = next((s for s in steps if s.Stage == "deploy"), None)
    if step is None:
        return None
    detail = step.detail
    meta, values = detail.get("meta", {}), detail.get("values", {})
    rollback = values.get("rollback") or None
    assertions = [{"name": a.get("name", ""), "detail": a.get("detail", ""),
                   "result": "skipped" if a.get("skipped") else
                   ("passed" if a.get("pass") else "failed")}
                  for a in values.get("gate", [])]
    gate = ("not run" if not assertions else
            "passed" if all(a["result"] != "failed" for a in assertions) else "failed")
    return {"task": step.Task, "status": step.Status,
            "target": values.get("target") or meta.get("target", ""),
            "substrate": values.get("substrate") or meta.get("substrate", ""),
            "project": values.get("project", ""), "skipped": meta.get("skipped", ""),
            "gate": gate, "assertions": assertions,
            "rolled_back": bool(rollback and rollback.get("to_build")),
            "rollback": rollback and {"to_build": rollback.get("to_build", ""),
                                      "passed": rollback.get("passed"),
                                      "down": rollback.get("down"),
                                      "refused_build": rollback.get("refused_build", ""),
                                      "refused": sorted(rollback.get("refused") or {})},
            "error": step.Error}


def count(items: list[dict], status: str) -> int:
    """How many items have `status`."""
    return sum(item["status"] == status for item in items)


def artifact(step: BuildStep, ref_key: str, value_key: str) -> dict[str, Any]:
    """An image or push step as the summary lists it."""
    detail = step.detail
    meta, values = detail.get("meta", {}), detail.get("values", {})
    return {"task": step.Task, "service": meta.get("service") or step.Task.rsplit(":", 1)[-1],
            "ref": meta.get(ref_key) or values.get(value_key) or "", "status": step.Status,
            "digest": values.get("digest", ""), "size": values.get("size"),
            "skipped": bool(values.get("skipped")), "seconds": step.ElapsedSeconds}


def supply(step: BuildStep) -> dict[str, Any]:
    """Whether a push step signed its image's digest, and its SBOM's component counts."""
    values = step.detail.get("values", {})
    if step.Status == "up-to-date":  # current only with its signature in the registry
        return {"signed": "yes", "sbom": None}
    if step.Status not in ("run", "failed"):
        return {"signed": None, "sbom": None}
    return {"signed": values.get("signed", "no"), "sbom": values.get("sbom")}


def pass_rate(rows: list[BuildCompile]) -> float | None:
    """Percent of modules that compile (None without modules)."""
    if not rows:
        return None
    return round(100.0 * sum(r.CompileSuccess == "Y" for r in rows) / len(rows), 1)


def compile_summary(source: BuildRecord | None, record: BuildRecord) -> dict[str, Any]:
    """Module counts and pass rates overall, per factory set and per platform."""
    rows = list(source.compiles) if source else []
    outcome = Counter(r.CompileStatus for r in rows)

    def grouped(key) -> dict[str, dict[str, Any]]:
        groups: dict[str, list[BuildCompile]] = {}
        for row in rows:
            groups.setdefault(key(row), []).append(row)
        return {name: counts(group) for name, group in sorted(groups.items())}

    return {"source_guid": source.run.BuildGuid if source else None,
            "from_this_build": source is record, **counts(rows),
            "compiled": outcome["compiled"], "up_to_date": outcome["up-to-date"],
            "from_cache": outcome["registry-cache"],
            "factory_sets": grouped(lambda r: r.FactorySet or "(shared)"),
            "platforms": grouped(lambda r: r.Platform)}


def counts(rows: list[BuildCompile]) -> dict[str, Any]:
    """Modules, results (module × platform), failures and pass rate of compile rows."""
    return {"modules": len({r.Module for r in rows}), "results": len(rows),
            "failed": sum(r.CompileSuccess == "N" for r in rows), "pass_rate": pass_rate(rows)}


def timeline(record: BuildRecord, limit: int = TIMELINE_ROWS) -> dict[str, Any]:
    """Bars of the steps that ran: offset and width in percent of the run's duration."""
    run = record.run
    ran = [s for s in record.steps if s.StartTime is not None]
    shown = sorted(sorted(ran, key=lambda s: -(s.ElapsedSeconds or 0))[:limit],
                   key=lambda s: (s.StartTime, s.Seq))
    total = max(run.ElapsedSeconds or 0.0, max((end_offset(s, run) for s in ran), default=0.0),
                0.001)
    bars = [{"task": s.Task, "stage": s.Stage, "status": s.Status,
             "seconds": s.ElapsedSeconds or 0.0,
             "left": round(100 * offset(s, run) / total, 2),
             "width": round(max(100 * (s.ElapsedSeconds or 0.0) / total, 0.4), 2)}
            for s in shown]
    digits = 2 if total < 10 else 1 if total < 100 else 0
    ticks = [f"{total * i / 4:.{digits}f}" for i in range(5)]
    return {"bars": bars, "hidden": len(ran) - len(shown), "total": total, "ticks": ticks}


def offset(step: BuildStep, run: BuildRun) -> float:
    """Seconds from the run's start to the step's start."""
    return max((step.StartTime - run.StartTime).total_seconds(), 0.0)


def end_offset(step: BuildStep, run: BuildRun) -> float:
    """Seconds from the run's start to the step's end."""
    return offset(step, run) + (step.ElapsedSeconds or 0.0)


def compile_matrix(source: BuildRecord | None) -> dict[str, Any]:
    """Modules × platforms by factory set, with each set's pass rate."""
    rows = list(source.compiles) if source else []
    platforms = sorted({r.Platform for r in rows})
    sets: dict[str, dict[str, dict[str, BuildCompile]]] = {}
    for row in rows:
        sets.setdefault(row.FactorySet or "(shared)", {}).setdefault(row.Module, {})[
            row.Platform] = row
    groups = []
    for name, modules in sorted(sets.items()):
        flat = [row for cells in modules.values() for row in cells.values()]
        groups.append({"name": name, "pass_rate": pass_rate(flat), "modules": len(modules),
                       "failed": sum(r.CompileSuccess == "N" for r in flat),
                       "rows": [{"module": module, "cells": [cells.get(p) for p in platforms]}
                                for module, cells in sorted(modules.items())]})
    return {"platforms": platforms, "groups": groups}
