"""Checks of option values after environment overrides, each located in the file or the env.

The schema checks types in the file and `coerce` types the environment; these check
what a well-typed value means, wherever it came from.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from axion_build.build.guard import MIN_SECRET_LENGTH
from axion_build.config.model import PLATFORMS, SECRET_OPTIONS, SUBSTRATES
from axion_build.config.problems import Problem, located

# names reach image repositories (lower case only), file names, env names and YAML keys
SAFE_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,61}[a-z0-9])?$")
SAFE_NAME_FIX = ("use lower-case letters, digits, '-' and '_', starting and ending with a "
                 "letter or digit (at most 63)")
LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
REGISTRY = re.compile(rf"^(?:{LABEL}(?:\.{LABEL})*|\[[0-9A-Fa-f:.]+\])(?::([0-9]{{1,5}}))?$")
NAMESPACE = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$")

Locate = Callable[[tuple[str, ...], str, str], Problem]


def section(merged: Mapping, name: str) -> Mapping:
    """One section of the overridden config, or an empty mapping when it is not one."""
    value = merged.get(name) if isinstance(merged, Mapping) else None
    return value if isinstance(value, Mapping) else {}


def value_problems(merged: Mapping, doc: Any, path: Path,
                   environ: Mapping[str, str]) -> list[Problem]:
    """Every value problem: names, substrate, platforms, ports, registry, SMTP security."""
    at: Locate = functools.partial(located, path, doc, environ)
    return [*name_problems(merged, path, at), *deployment_problems(merged, at),
            *port_problems(merged, at), *registry_problems(merged, at),
            *smtp_problems(merged, at)]


def value_warnings(merged: Mapping, doc: Any, path: Path,
                   environ: Mapping[str, str]) -> list[Problem]:
    """Values that work but are unsafe: secrets too short for the image secret guard."""
    warnings = []
    for name, option in SECRET_OPTIONS:
        value = section(merged, name).get(option)
        if isinstance(value, str) and 0 < len(value) < MIN_SECRET_LENGTH:
            warnings.append(located(
                path, doc, environ, (name, option),
                f"shorter than {MIN_SECRET_LENGTH} characters, so the image secret guard "
                "cannot search images for it (it would match by chance)",
                f"use a {name} password of at least {MIN_SECRET_LENGTH} characters"))
    return warnings


def name_problems(merged: Mapping, path: Path, at: Locate) -> list[Problem]:
    """The package name is safe and is the file's name; service names are safe."""
    problems = []
    name = section(merged, "package").get("name")
    if isinstance(name, str) and not SAFE_NAME.match(name):
        problems.append(at(("package", "name"), f"{name!r} is not a valid package name",
                           SAFE_NAME_FIX))
    elif isinstance(name, str) and name != path.stem:
        problems.append(at(("package", "name"),
                           f"{name!r} does not match the file name {path.name}",
                           f"rename the file to {name}.yaml or set name: {path.stem}"))
    for service in section(merged, "services"):
        if not SAFE_NAME.match(str(service)):
            problems.append(at(("services", str(service)),
                               f"{str(service)!r} is not a valid service name",
                               SAFE_NAME_FIX))
    return problems


def deployment_problems(merged: Mapping, at: Locate) -> list[Problem]:
    """A known substrate and known platforms."""
    deployment = section(merged, "deployment")
    problems = []
    substrate = deployment.get("substrate")
    if isinstance(substrate, str) and substrate not in SUBSTRATES:
        problems.append(at(("deployment", "substrate"), f"unknown substrate {substrate!r}",
                           f"use one of: {', '.join(SUBSTRATES)}"))
    plat = deployment.get("platform")
    for item in (plat.split(",") if isinstance(plat, str) and plat else []):
        if item.strip() not in PLATFORMS:
            problems.append(at(("deployment", "platform"), f"unknown platform {item!r}",
                               f"use {' or '.join(PLATFORMS)}, comma-separated"))
    return problems


def port_problems(merged: Mapping, at: Locate) -> list[Problem]:
    """Database and SMTP ports are TCP ports (services are checked by their schema type)."""
    problems = []
    for name in ("database", "smtp"):
        port = section(merged, name).get("port")
        if isinstance(port, int) and not isinstance(port, bool) and not 1 <= port <= 65535:
            problems.append(at((name, "port"), f"port {port} is out of range",
                               f"set {name}.port to a number from 1 to 65535"))
    return problems


def registry_problems(merged: Mapping, at: Locate) -> list[Problem]:
    """The registry is `host[:port]` and the namespace a repository path."""
    registry = section(merged, "registry")
    problems = []
    url = registry.get("url")
    if isinstance(url, str):
        match = REGISTRY.match(url)
        if "://" in url:
            problems.append(at(("registry", "url"), f"{url!r} has a scheme",
                               f"write it as host[:port] ({url.split('://', 1)[1]!r}); "
                               "registry.insecure: true selects plain http"))
        elif not match or (match.group(1) and not 1 <= int(match.group(1)) <= 65535):
            problems.append(at(("registry", "url"), f"{url!r} is not a registry address",
                               "write it as host[:port], e.g. 127.0.0.1:5000"))
    namespace = registry.get("namespace")
    if isinstance(namespace, str) and namespace and not NAMESPACE.match(namespace):
        problems.append(at(("registry", "namespace"),
                           f"{namespace!r} is not a repository namespace",
                           "use lower-case letters, digits and '.', '_', '-' or '/' "
                           "between them"))
    return problems


def smtp_problems(merged: Mapping, at: Locate) -> list[Problem]:
    """Credentials only over STARTTLS: without it the password crosses the wire in clear."""
    smtp = section(merged, "smtp")
    if smtp.get("starttls") is True:
        return []
    field = next((f for f in ("user", "password") if smtp.get(f)), "")
    if not field:
        return []
    return [at(("smtp", field), "credentials would be sent without TLS",
               "set smtp.starttls: true (the server must offer STARTTLS), or remove "
               "smtp.user and smtp.password")]
