"""Config stage: the trimmed runtime `config.yaml` mounted at /axion/config.yaml."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

from tasks.config import RUNTIME_SECTIONS, read_yaml, yaml_rt
from tasks.packages import PACKAGES, config_file
from tasks.problems import ConfigError

# options of the package section the build needs but the services do not
BUILD_ONLY_PACKAGE_OPTIONS = ("app_root",)


def trim_document(doc) -> None:
    """Drop build-only sections and options in place, keeping comments and order."""
    for section in [key for key in doc if key not in RUNTIME_SECTIONS]:
        del doc[section]
    package = doc.get("package")
    for option in BUILD_ONLY_PACKAGE_OPTIONS:
        if package is not None and option in package:
            del package[option]


def trim_text(source: Path) -> str:
    """The runtime config text trimmed from a package config file."""
    doc, problems = read_yaml(source)
    if problems:
        raise ConfigError(problems)
    trim_document(doc)
    out = io.StringIO()
    out.write(f"# Runtime configuration of {doc['package']['name']}, trimmed from "
              f"{source.name} by Axion Build.\n")
    yaml_rt().dump(doc, out)
    return out.getvalue()


def write_runtime_config(source: Path, target: Path) -> None:
    """Write the trimmed config atomically (never a half-written file)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    partial.write_text(trim_text(source), encoding="utf-8")
    partial.replace(target)


def runtime_config_path(build_dir: Path) -> Path:
    """Where the trimmed config of a package is written."""
    return build_dir / "runtime" / "config.yaml"


def task_config() -> Iterator[dict]:
    """Trim each package config to the runtime config.yaml."""
    for cfg in PACKAGES.valid():
        target = runtime_config_path(cfg.build_dir)
        yield {
            "name": cfg.name,
            "actions": [(write_runtime_config, [config_file(cfg.name), target])],
            "file_dep": [str(config_file(cfg.name))],
            "targets": [str(target)],
            "task_dep": [f"validate:{cfg.name}"],
            "clean": True,
        }
