"""Validate stage: the config schema, referenced files, ports and key pair, all at once."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path

from doit.exceptions import TaskFailed

from tasks.config import PackageConfig, apply_env, parse_config, read_yaml
from tasks.keys import key_pair_problem, key_paths
from tasks.packages import PACKAGES, config_file, env_snapshot
from tasks.problems import ConfigError, Problem, line_of
from tasks.schema import check_document


def validate_file(path: Path, environ: Mapping[str, str] | None = None) -> list[Problem]:
    """Every problem of one package config: YAML, schema, environment, files and keys."""
    environ = os.environ if environ is None else environ
    doc, problems = read_yaml(path)
    if doc is None:
        return problems
    problems += check_document(doc, path)
    if problems:
        return problems
    merged, problems = apply_env(doc, path, environ)
    if problems:
        return problems
    cfg = parse_config(merged, path)
    problems = check_files(cfg, doc) + check_database_url(cfg, doc, environ)
    if cfg.app_root.is_dir():
        problems += check_keys(cfg, doc)
    return problems


def check_files(cfg: PackageConfig, doc: Mapping) -> list[Problem]:
    """Referenced folders and files exist in the app tree."""
    path = cfg.path
    package = doc["package"]
    if not cfg.app_root.is_dir():
        return [Problem(path, line_of(package, "app_root"), "package.app_root",
                        f"app tree {cfg.app_root} does not exist",
                        "point app_root at the app tree, relative to this file")]
    problems = []
    services = doc["services"] or {}
    for spec in cfg.services:
        if not (cfg.app_root / spec.script).is_file():
            problems.append(Problem(path, line_of(services[spec.name], "script"),
                                    f"services.{spec.name}.script",
                                    f"{spec.script} not found in {cfg.app_root}",
                                    f"create {spec.script} or fix the script name"))
    comp = doc["compile"]
    for index, folder in enumerate(cfg.compile.factory_sets):
        if not (cfg.app_root / folder).is_dir():
            problems.append(Problem(path, line_of(comp["factory_sets"], index),
                                    "compile.factory_sets", f"folder {folder} not found in "
                                    f"{cfg.app_root}", "remove it or create the folder"))
    for index, module in enumerate(cfg.compile.exclude):
        if not (cfg.app_root / module).is_file():
            problems.append(Problem(path, line_of(comp["exclude"], index), "compile.exclude",
                                    f"excluded module {module} not found",
                                    "use a path relative to the app tree"))
    images = doc.get("images") or {}
    for option in ("requirements_file",):
        relative = getattr(cfg.images, option)
        if not (cfg.app_root / relative).is_file():
            problems.append(Problem(path, line_of(images, option) or line_of(doc, "images"),
                                    f"images.{option}", f"{relative} not found in "
                                    f"{cfg.app_root}", f"create {relative} or fix the path"))
    return problems


def check_database_url(cfg: PackageConfig, doc: Mapping,
                       environ: Mapping[str, str]) -> list[Problem]:
    """A set `database.url` is one the run can write its record to."""
    from tasks.dburl import URL_FIX, url_problem

    if not cfg.database.url or not (problem := url_problem(cfg.database.url)):
        return []
    if "AXION_DATABASE_URL" in environ:
        return [Problem(Path("environment variable AXION_DATABASE_URL"), 0, "database.url",
                        problem, f"set AXION_DATABASE_URL right or unset it; {URL_FIX}")]
    return [Problem(cfg.path, line_of(doc.get("database") or {}, "url"), "database.url",
                    problem, URL_FIX)]


def check_keys(cfg: PackageConfig, doc: Mapping) -> list[Problem]:
    """The package's PEM key pair exists in data.config/ and matches."""
    problem = key_pair_problem(cfg.app_root / "data.config", cfg.name)
    if not problem:
        return []
    return [Problem(cfg.path, line_of(doc["package"], "name"), "package.name", problem,
                    f"run 'axion keys {cfg.name}' (or 'doit keys:{cfg.name}')")]


def validate_action(path: Path) -> TaskFailed | None:
    """doit action: print every problem and fail, or pass silently."""
    problems = validate_file(path)
    if problems:
        return TaskFailed(ConfigError(problems).report())
    print(f"{path.name}: valid")
    return None


def validate_inputs(package: str) -> list[str]:
    """Files whose change re-runs validation (those that exist)."""
    path = config_file(package)
    cfg = PACKAGES.get(package)
    files = [path]
    if isinstance(cfg, PackageConfig):
        files += [cfg.app_root / s.script for s in cfg.services]
        files += [cfg.app_root / cfg.images.requirements_file]
        files += list(key_paths(cfg.app_root / "data.config", cfg.name))
    return [str(f) for f in files if f.exists()]


def task_validate() -> Iterator[dict]:
    """Check each package's config, files and keys; every problem at once."""
    for package in PACKAGES.names():
        inputs = validate_inputs(package)
        yield {
            "name": package,
            "actions": [(validate_action, [config_file(package)])],
            "file_dep": inputs,
            "uptodate": [config_changed_env(package, inputs)],
            "verbosity": 2,
        }


def config_changed_env(package: str, inputs: list[str]):
    """doit `config_changed` over the AXION_* environment and the set of inputs."""
    from doit.tools import config_changed

    return config_changed({"package": package, "env": env_snapshot(), "inputs": inputs})
