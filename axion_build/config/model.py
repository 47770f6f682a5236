"""The package config's schema tables and the frozen specs parsed from it (pure data)."""

from __future__ import annotations

import platform as host_platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# type names used by the schema: str, int, bool, list, dict, port (int or null)
SERVICE_SCHEMA = {"script": "str", "args": "list", "port": "port", "route": "str"}
SCHEMA: dict[str, dict[str, Any]] = {
    "package": {"name": "str", "app_root": "str"},
    "build": {"folder": "str"},
    "compile": {"factory_sets": "list", "exclude": "list", "directives": "dict",
                "cflags": "list", "cross": "bool"},
    "images": {"base_image": "str", "base_runtime_image": "str", "bootstrap": "bool",
               "suite": "str", "debian_mirror": "str", "requirements_file": "str",
               "requirements_ai_file": "str", "arm_exclude_file": "str",
               "system_build_deps": "str", "system_runtime_deps": "str", "ai": "bool"},
    "services": "services",
    "registry": {"url": "str", "namespace": "str", "insecure": "bool", "username": "str",
                 "password": "str"},
    "cache": {"pull": "bool", "push": "bool", "trusted_keys": "list"},
    "signing": {"password": "str"},
    "deployment": {"substrate": "str", "platform": "str",
                   "buildx": {"builder": "str", "endpoint": "str"},
                   "target": "str", "project": "str", "http_port": "int",
                   "https_port": "int", "gate": {"timeout": "int", "min_pass_rate": "int",
                                                     "self_test": "str"}},
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
# where `deploy:<pkg>` runs the scaffold: nowhere, or on this machine's engine
DEPLOY_TARGETS = ("none", "local", "context:<name>")
CONTEXT_TARGET = "context:"  # a remote Docker host, through the docker context named after it
DEPLOYABLE_SUBSTRATES = ("compose", "supervisor", "k3s")  # k3s: rendered and linted only
PLATFORMS = ("linux/amd64", "linux/arm64")
# sections the running services read; everything else is build-only
RUNTIME_SECTIONS = ("package", "services", "database", "smtp", "runtime")
SECRET_OPTIONS = (("database", "password"), ("smtp", "password"), ("registry", "password"),
                  ("signing", "password"))


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
    cross: bool = True  # a foreign platform compiles with its cross gcc when installed


@dataclass(frozen=True)
class ImageSpec:
    """Base images, requirements files and system packages of the images."""

    base_image: str = "axion-base/bookworm-builder:latest"
    base_runtime_image: str = "axion-base/bookworm-runtime:latest"
    bootstrap: bool = True  # made here from Debian (offline); false: pulled from a registry
    suite: str = "bookworm"  # the Debian suite bootstrapped bases are made of
    debian_mirror: str = "http://deb.debian.org/debian"
    requirements_file: str = "resource.config/requirements.txt"
    requirements_ai_file: str = "resource.config/requirements-ai.txt"
    arm_exclude_file: str = "resource.config/requirements-arm-exclude.txt"
    system_build_deps: str = ""
    system_runtime_deps: str = ""
    ai: bool = False

    def runtime_for(self, platform: str) -> str:
        """The runtime base image for `platform` (see `tag_for_platform`)."""
        return tag_for_platform(self.base_runtime_image, platform)

    def builder_for(self, platform: str) -> str:
        """The builder base image for `platform`."""
        return tag_for_platform(self.base_image, platform)


def tag_for_platform(tag: str, platform: str) -> str:
    """The local tag of a base image for `platform`: a local tag holds one architecture, so
    non-amd64 bases carry a suffix (a pulled one is tagged so after its pull)."""
    arch = platform.split("/")[-1]
    if arch == "amd64":
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
class CacheSpec:
    """The registry as a shared compile cache: take modules from it, give modules to it.

    `push` unset follows the run: on, unless the run skips the push.
    """

    pull: bool = True
    push: bool | None = None
    # public keys (besides the package's own cosign key) whose signatures make a cache
    # entry or an image usable here, e.g. CI's key on a developer's machine
    trusted_keys: tuple[Path, ...] = ()


@dataclass(frozen=True)
class GateSpec:
    """What a deployment must show before it counts as good."""

    timeout: int = 120  # seconds for the stack to be up and healthy, and for the checks
    min_pass_rate: int = 90  # the self-test's pass rate, as the seed's CI gate
    # `<service>:<path>` of the self-test's status JSON behind Caddy; '' for the routed
    # service running ServeReport.py (`<route>/status?format=json`); `none` for no self-test
    self_test: str = ""


@dataclass(frozen=True)
class SigningSpec:
    """The cosign key pair's password (the key pair itself lives in data.config/)."""

    password: str = field(default="", repr=False)


@dataclass(frozen=True)
class DeploymentSpec:
    """Deployment substrate, target platforms, the buildx builder and where it deploys."""

    substrate: str = "compose"
    platform: str = ""
    builder: str = ""
    endpoint: str = ""
    target: str = "none"  # none: scaffold only; local: `deploy:<pkg>` runs it here
    project: str = ""  # the compose project name; empty: axion-<package>
    http_port: int = 8080  # Caddy's plain HTTP on the host
    https_port: int = 8443  # Caddy's TLS on the host
    gate: GateSpec = GateSpec()

    @property
    def context(self) -> str:
        """The docker context a `context:<name>` target deploys through ('' otherwise)."""
        return self.target.removeprefix(CONTEXT_TARGET) if self.deploys_remote else ""

    @property
    def deploys_remote(self) -> bool:
        """Whether the target is a remote Docker host reached through a docker context."""
        return self.target.startswith(CONTEXT_TARGET)

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
    cache: CacheSpec = CacheSpec()
    signing: SigningSpec = SigningSpec()
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
        values = (self.database.password, self.smtp.password, self.registry.password,
                  self.signing.password)
        return tuple(v for v in values if v)


def native_platform() -> str:
    """The host's platform in Docker's spelling."""
    machine = host_platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
    return f"linux/{arch.get(machine, machine)}"


def env_name(path: tuple[str, ...]) -> str:
    """`AXION_{SECTION}_{OPTION}` for a path of keys."""
    return "AXION_" + "_".join(p.upper().replace("-", "_").replace(".", "_") for p in path)
