"""Package configuration: schema, environment overrides and frozen specs.

`parse_config` is pure (mapping in, specs or problems out); `load_config` does
the file I/O. Every option resolves `AXION_{SECTION}_{OPTION}` first.
"""

from __future__ import annotations

import os
import platform as host_platform
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from tasks.problems import ConfigError, Problem

ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = ROOT / "config"

# type names used by the schema: str, int, bool, list, dict, port (int or null)
SERVICE_SCHEMA = {"script": "str", "args": "list", "port": "port", "route": "str"}
SCHEMA: dict[str, dict[str, Any]] = {
    "package": {"name": "str", "app_root": "str"},
    "build": {"folder": "str"},
    "compile": {"factory_sets": "list", "exclude": "list", "directives": "dict",
                "cflags": "list"},
    "images": {"base_image": "str", "base_runtime_image": "str", "bootstrap": "bool",
               "debian_mirror": "str", "requirements_file": "str",
               "requirements_ai_file": "str", "arm_exclude_file": "str",
               "system_build_deps": "str", "system_runtime_deps": "str", "ai": "bool"},
    "services": "services",
    "registry": {"url": "str", "namespace": "str", "insecure": "bool", "username": "str",
                 "password": "str"},
    "deployment": {"substrate": "str", "platform": "str",
                   "buildx": {"builder": "str", "endpoint": "str"}},
    "database": {"url": "str", "host": "str", "port": "int", "name": "str", "user": "str",
                 "password": "str"},
    "smtp": {"host": "str", "port": "int", "starttls": "bool", "user": "str",
             "password": "str", "sender": "str"},
    "runtime": {"log_level": "str", "heartbeat_seconds": "int"},
}
REQUIRED = {
    "package": ("name", "app_root"),
    "compile": ("factory_sets",),
    "services": (),
}
SUBSTRATES = ("compose", "k3s", "supervisor")
PLATFORMS = ("linux/amd64", "linux/arm64")
# sections the running services read; everything else is build-only
RUNTIME_SECTIONS = ("package", "services", "database", "smtp", "runtime")
SECRET_OPTIONS = (("database", "password"), ("smtp", "password"), ("registry", "password"))


@dataclass(frozen=True)
class ServiceSpec:
    """One service of the app: entry script, arguments, port and HTTP route."""

    name: str
    script: str
    args: tuple[str, ...] = ()
    port: int | None = None
    route: str = ""

    @property
    def command(self) -> tuple[str, ...]:
        """The command line the service runs with."""
        return ("python", self.script, *self.args)


@dataclass(frozen=True)
class CompileSpec:
    """Which factory sets compile, what stays Python, and compiler settings."""

    factory_sets: tuple[str, ...]
    exclude: tuple[str, ...] = ()
    directives: tuple[tuple[str, Any], ...] = (("language_level", 3),)
    cflags: tuple[str, ...] = ("-O2",)


@dataclass(frozen=True)
class ImageSpec:
    """Base images, requirements files and system packages of the images."""

    base_image: str = "axion-base/bookworm-builder:latest"
    base_runtime_image: str = "axion-base/bookworm-runtime:latest"
    bootstrap: bool = True
    debian_mirror: str = "http://deb.debian.org/debian"
    requirements_file: str = "resource.config/requirements.txt"
    requirements_ai_file: str = "resource.config/requirements-ai.txt"
    arm_exclude_file: str = "resource.config/requirements-arm-exclude.txt"
    system_build_deps: str = ""
    system_runtime_deps: str = ""
    ai: bool = False

    def runtime_for(self, platform: str) -> str:
        """The runtime base image for `platform` (see `tag_for_platform`)."""
        return tag_for_platform(self.base_runtime_image, platform, self.bootstrap)

    def builder_for(self, platform: str) -> str:
        """The builder base image for `platform`."""
        return tag_for_platform(self.base_image, platform, self.bootstrap)


def tag_for_platform(tag: str, platform: str, bootstrapped: bool) -> str:
    """A local tag holds one architecture, so bootstrapped non-amd64 bases carry a suffix."""
    arch = platform.split("/")[-1]
    if not bootstrapped or arch == "amd64":
        return tag
    return f"{tag}-{arch}" if ":" in tag.rsplit("/", 1)[-1] else f"{tag}:latest-{arch}"


@dataclass(frozen=True)
class RegistrySpec:
    """Where images are pushed."""

    url: str = "127.0.0.1:5000"
    namespace: str = "axion"
    insecure: bool = True
    username: str = ""
    password: str = field(default="", repr=False)


@dataclass(frozen=True)
class DeploymentSpec:
    """Deployment substrate, target platforms and the buildx builder."""

    substrate: str = "compose"
    platform: str = ""
    builder: str = ""
    endpoint: str = ""

    @property
    def platforms(self) -> tuple[str, ...]:
        """Target platforms; the host's own when none is configured."""
        if not self.platform:
            return (native_platform(),)
        return tuple(p.strip() for p in self.platform.split(",") if p.strip())


@dataclass(frozen=True)
class DatabaseSpec:
    """Build-records database; an empty url means SQLite in the build folder."""

    url: str = ""
    host: str = ""
    port: int = 3306
    name: str = "axion"
    user: str = ""
    password: str = field(default="", repr=False)


@dataclass(frozen=True)
class SmtpSpec:
    """SMTP server for the emailed build report."""

    host: str = "127.0.0.1"
    port: int = 25
    starttls: bool = False
    user: str = ""
    password: str = field(default="", repr=False)
    sender: str = "axion-build@localhost"


@dataclass(frozen=True)
class PackageConfig:
    """The whole, validated configuration of one package."""

    name: str
    path: Path
    app_root: Path
    build_root: Path
    services: tuple[ServiceSpec, ...]
    compile: CompileSpec
    images: ImageSpec = ImageSpec()
    registry: RegistrySpec = RegistrySpec()
    deployment: DeploymentSpec = DeploymentSpec()
    database: DatabaseSpec = DatabaseSpec()
    smtp: SmtpSpec = SmtpSpec()
    runtime: tuple[tuple[str, Any], ...] = ()

    @property
    def build_dir(self) -> Path:
        """This package's own build folder."""
        return self.build_root / self.name

    def service(self, name: str) -> ServiceSpec:
        """The service called `name`."""
        for spec in self.services:
            if spec.name == name:
                return spec
        raise KeyError(f"{self.path}: no service {name!r} (have: {self.service_names})")

    @property
    def service_names(self) -> str:
        """Comma-separated service names, for messages."""
        return ", ".join(s.name for s in self.services)

    def secrets(self) -> tuple[str, ...]:
        """Configured secret values that must never reach an image."""
        values = (self.database.password, self.smtp.password, self.registry.password)
        return tuple(v for v in values if v)


def native_platform() -> str:
    """The host's platform in Docker's spelling."""
    machine = host_platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
    return f"linux/{arch.get(machine, machine)}"


def env_name(path: tuple[str, ...]) -> str:
    """`AXION_{SECTION}_{OPTION}` for a path of keys."""
    return "AXION_" + "_".join(p.upper().replace("-", "_").replace(".", "_") for p in path)


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


def config_path(package: str, config_dir: Path = CONFIG_DIR) -> Path:
    """The YAML file of `package`."""
    return config_dir / f"{package}.yaml"


def discover_packages(config_dir: Path = CONFIG_DIR) -> list[str]:
    """Names of the packages that have a config file."""
    return sorted(p.stem for p in config_dir.glob("*.yaml"))


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> PackageConfig:
    """Read, override from the environment, check and parse one package config."""
    from tasks.checks import check_config

    doc, problems = read_yaml(path)
    if doc is None:
        raise ConfigError(problems)
    merged, problems = check_config(doc, path, os.environ if environ is None else environ)
    if problems:
        raise ConfigError(problems)
    return parse_config(merged, path)


def apply_env(doc: Mapping, path: Path, environ: Mapping[str, str]) -> tuple[dict, list[Problem]]:
    """A plain copy of `doc` with every `AXION_*` override applied and typed."""
    from tasks.schema import coerce

    problems: list[Problem] = []

    def walk(node: Any, schema: Any, prefix: tuple[str, ...]) -> Any:
        if not isinstance(node, Mapping):
            return node
        out = {}
        for key, value in node.items():
            sub = schema_for(schema, key)
            keypath = (*prefix, str(key))
            if isinstance(value, Mapping):
                out[key] = walk(value, sub, keypath)
                continue
            out[key] = plain(value)
            name = env_name(keypath)
            if name in environ and isinstance(sub, str):
                ok, typed = coerce(environ[name], sub)
                if ok:
                    out[key] = typed
                else:
                    problems.append(Problem(Path(f"environment variable {name}"), 0,
                                            ".".join(keypath), typed, f"set {name} to {sub}"))
        return out

    merged = walk(doc, SCHEMA, ())
    add_unset_env(merged, environ, problems)
    return merged, problems


def add_unset_env(merged: dict, environ: Mapping[str, str], problems: list[Problem],
                  schema: Mapping | None = None, prefix: tuple[str, ...] = ()) -> None:
    """Apply overrides of options the file leaves out (e.g. `AXION_DATABASE_PASSWORD`)."""
    from tasks.schema import coerce

    for key, kind in (SCHEMA if schema is None else schema).items():
        keypath = (*prefix, key)
        if isinstance(kind, dict):
            section = merged.get(key) if isinstance(merged.get(key), dict) else {}
            add_unset_env(section, environ, problems, kind, keypath)
            if section:
                merged[key] = section
            continue
        name = env_name(keypath)
        if not isinstance(kind, str) or name not in environ or key in merged:
            continue
        ok, typed = coerce(environ[name], kind)
        if ok:
            merged[key] = typed
        else:
            problems.append(Problem(Path(f"environment variable {name}"), 0,
                                    ".".join(keypath), typed, f"set {name} to {kind}"))


def schema_for(schema: Any, key: Any) -> Any:
    """The schema node under `key` (services map any name to SERVICE_SCHEMA)."""
    if schema == "services":
        return SERVICE_SCHEMA
    if isinstance(schema, dict):
        return schema.get(key)
    return None


def plain(value: Any) -> Any:
    """Round-trip YAML scalars and sequences as plain Python values."""
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    return value


def under_cwd(path: Path) -> Path:
    """`path` relative to the working directory when inside it (so a checkout that moves,
    as in CI, keeps doit's recorded dependencies valid), else absolute."""
    resolved = path.resolve()
    try:
        return resolved.relative_to(Path.cwd())
    except ValueError:
        return resolved


def parse_config(doc: Mapping, path: Path) -> PackageConfig:
    """Frozen specs from a checked, overridden mapping (pure)."""
    base = path.parent
    pkg = doc["package"]
    sections = {name: dict(doc.get(name) or {}) for name in SCHEMA}
    deployment = sections["deployment"]
    buildx = deployment.pop("buildx", None) or {}
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
        ),
        images=ImageSpec(**sections["images"]),
        registry=RegistrySpec(**sections["registry"]),
        deployment=DeploymentSpec(builder=buildx.get("builder", ""),
                                  endpoint=buildx.get("endpoint", ""), **deployment),
        database=DatabaseSpec(**sections["database"]),
        smtp=SmtpSpec(**sections["smtp"]),
        runtime=tuple(sorted(sections["runtime"].items())),
    )
