"""Config stage: the trimmed runtime `config.yaml` mounted at /axion/config.yaml."""

from __future__ import annotations

import io
from pathlib import Path

from axion_build.adapters.fs import write_atomic
from axion_build.config.load import read_yaml, yaml_rt
from axion_build.config.model import RUNTIME_SECTIONS
from axion_build.config.problems import ConfigError

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
    write_atomic(target, trim_text(source))


def runtime_config_path(build_dir: Path) -> Path:
    """Where the trimmed config of a package is written."""
    return build_dir / "runtime" / "config.yaml"


