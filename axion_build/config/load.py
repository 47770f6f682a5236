"""Reading a package config: YAML (round-trip), environment overrides, checks, frozen specs.

`parse_config` is pure (mapping in, specs out); `load_config` does the file I/O.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from axion_build import paths
from axion_build.config.checks import check_config
from axion_build.config.model import (
    SCHEMA,
    CacheSpec,
    CompileSpec,
    DatabaseSpec,
    DeploymentSpec,
    GateSpec,
    ImageSpec,
    PackageConfig,
    RegistrySpec,
    ServiceSpec,
    SigningSpec,
    SmtpSpec,
)
from axion_build.config.problems import ConfigError, Problem
from axion_build.paths import under_cwd


def read_yaml(path: Path) -> tuple[Any, list[Problem]]:
    """Round-trip load of a YAML file; an unreadable file is a problem, not a crash."""
    try:
        data = path.read_bytes()
        text = data.decode("utf-8")
    except OSError as exc:
        return None, [Problem(path, 0, "", f"cannot read file: {exc.strerror}",
                              f"create {path.name} in {path.parent}")]
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        return None, [Problem(path, line, "", f"not UTF-8 text (byte 0x{data[exc.start]:02x})",
                              "save the file as UTF-8")]
    try:
        doc = yaml_rt().load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return None, [Problem(path, line, "", f"unreadable YAML: {reason}",
                              "fix the YAML syntax at that line")]
    if doc is None:
        return None, [Problem(path, 0, "", "the file is empty (no settings)",
                              "write the package:, compile: and services: sections "
                              "(config/homechoice.yaml is an example)")]
    return doc, []


def yaml_rt() -> YAML:
    """A round-trip YAML instance that keeps comments and order."""
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def config_path(package: str, config_dir: Path | None = None) -> Path:
    """The YAML file of `package`."""
    return (config_dir or paths.config_dir()) / f"{package}.yaml"


def discover_packages(config_dir: Path | None = None) -> list[str]:
    """Names of the packages that have a config file."""
    return sorted(p.stem for p in (config_dir or paths.config_dir()).glob("*.yaml"))


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> PackageConfig:
    """Read, override from the environment, check and parse one package config."""
    doc, problems = read_yaml(path)
    if doc is None:
        raise ConfigError(problems)
    merged, problems = check_config(doc, path, os.environ if environ is None else environ)
    if problems:
        raise ConfigError(problems)
    return parse_config(merged, path)


def parse_config(doc: Mapping, path: Path) -> PackageConfig:
    """Frozen specs from a checked, overridden mapping (pure)."""
    base = path.parent
    pkg = doc["package"]
    sections = {name: dict(doc.get(name) or {}) for name in SCHEMA}
    deployment = sections["deployment"]
    buildx = deployment.pop("buildx", None) or {}
    gate = GateSpec(**(deployment.pop("gate", None) or {}))
    build_folder = sections["build"].get("folder", "../build")
    comp = sections["compile"]
    return PackageConfig(
        name=pkg["name"],
        path=path,
        app_root=under_cwd(base / pkg["app_root"]),
        build_root=under_cwd(base / build_folder),
        services=tuple(
            ServiceSpec(name=str(name), script=spec["script"],
                        args=tuple(str(a) for a in spec.get("args") or ()),
                        port=spec.get("port"), route=spec.get("route") or "")
            for name, spec in sections["services"].items()
        ),
        compile=CompileSpec(
            factory_sets=tuple(comp["factory_sets"]),
            exclude=tuple(comp.get("exclude") or ()),
            directives=tuple(sorted((comp.get("directives") or {"language_level": 3}).items())),
            cflags=tuple(comp.get("cflags") or ("-O2",)),
            cross=comp.get("cross", True),
        ),
        images=ImageSpec(**sections["images"]),
        registry=RegistrySpec(**sections["registry"]),
        cache=CacheSpec(**{**sections["cache"], "trusted_keys": tuple(
            under_cwd(base / str(k)) for k in sections["cache"].get("trusted_keys") or ())}),
        signing=SigningSpec(**sections["signing"]),
        deployment=DeploymentSpec(builder=buildx.get("builder", ""),
                                  endpoint=buildx.get("endpoint", ""), gate=gate,
                                  **deployment),
        database=DatabaseSpec(**sections["database"]),
        smtp=SmtpSpec(**sections["smtp"]),
        runtime=tuple(sorted(sections["runtime"].items())),
    )
