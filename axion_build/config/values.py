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
from axion_build.config.model import (
    CONTEXT_TARGET,
    DEPLOY_TARGETS,
    DEPLOYABLE_SUBSTRATES,
    PLATFORMS,
    SECRET_OPTIONS,
    SUBSTRATES,
)
from axion_build.config.problems import Problem, located

# names reach image repositories (lower case only), file names, env names and YAML keys
SAFE_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,61}[a-z0-9])?$")
SAFE_NAME_FIX = ("use lower-case letters, digits, '-' and '_', starting and ending with a "
                 "letter or digit (at most 63)")
LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
REGISTRY = re.compile(rf"^(?:{LABEL}(?:\.{LABEL})*|\[[0-9A-Fa-f:.]+\])(?::([0-9]{{1,5}}))?$")
NAMESPACE = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$")

Locate = Callable[[tuple[str, ...], str, str], Problem]

# a docker context name, as `docker context create` accepts it
SAFE_CONTEXT = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.+-]*$")


def section(merged: Mapping, name: str) -> Mapping:
    """One section of the overridden config, or an empty mapping when it is not one."""
    value = merged.get(name) if isinstance(merged, Mapping) else None
    return value if isinstance(value, Mapping) else {}


def value_problems(merged: Mapping, doc: Any, path: Path,
                   environ: Mapping[str, str]) -> list[Problem]:
    """Every value problem: names, substrate, platforms, ports, registry, SMTP security."""
    at: Locate = functools.partial(located, path, doc, environ)
    return [*name_problems(merged, path, at), *deployment_problems(merged, at),
            *deploy_target_problems(merged, at), *port_problems(merged, at),
            *registry_problems(merged, at), *smtp_problems(merged, at),
            *runtime_problems(merged, at), *self_test_problems(merged, at)]


LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


def runtime_problems(merged: Mapping, at: Locate) -> list[Problem]:
    """`runtime.log_level` is a level the services' logger knows."""
    level = section(merged, "runtime").get("log_level")
    if level is None or str(level).lower() in LOG_LEVELS:
        return []
    return [at(("runtime", "log_level"), f"unknown log level {level!r}",
               f"use one of {', '.join(LOG_LEVELS)}")]


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


def deploy_target_problems(merged: Mapping, at: Locate) -> list[Problem]:
    """A known deploy target on a substrate it can run; project, ports and gate in range."""
    deployment = section(merged, "deployment")
    problems = []
    target, substrate = deployment.get("target"), deployment.get("substrate", "compose")
    if isinstance(target, str) and target.startswith(CONTEXT_TARGET) and (
            not SAFE_CONTEXT.match(target.removeprefix(CONTEXT_TARGET))):
        problems.append(at(("deployment", "target"),
                           f"{target!r} names no docker context",
                           "write context:<name> with the name `docker context ls` shows"))
    elif isinstance(target, str) and target not in DEPLOY_TARGETS and not target.startswith(
            CONTEXT_TARGET):
        problems.append(at(("deployment", "target"), f"unknown deploy target {target!r}",
                           f"use one of: {', '.join(DEPLOY_TARGETS)}"))
    elif (isinstance(target, str) and target.startswith(CONTEXT_TARGET)
          and substrate != "compose"):
        problems.append(at(("deployment", "target"),
                           f"a docker context target deploys the compose substrate only, "
                           f"not {substrate!r}",
                           "set deployment.substrate: compose, or deployment.target: local"))
    elif target == "local" and substrate not in DEPLOYABLE_SUBSTRATES:
        problems.append(at(("deployment", "target"),
                           f"deploy runs the {' or '.join(DEPLOYABLE_SUBSTRATES)} substrate "
                           f"only, not {substrate!r}",
                           "set deployment.target: none, or deployment.substrate: compose"))
    project = deployment.get("project")
    if isinstance(project, str) and project and not SAFE_NAME.match(project):
        problems.append(at(("deployment", "project"),
                           f"{project!r} is not a compose project name", SAFE_NAME_FIX))
    for option in ("http_port", "https_port"):
        port = deployment.get(option)
        if isinstance(port, int) and not isinstance(port, bool) and not 1 <= port <= 65535:
            problems.append(at(("deployment", option), f"port {port} is out of range",
                               f"set deployment.{option} to a number from 1 to 65535"))
    if deployment.get("http_port", 8080) == deployment.get("https_port", 8443):
        problems.append(at(("deployment", "https_port"),
                           "Caddy's HTTP and HTTPS host ports are the same",
                           "give deployment.http_port and deployment.https_port their own"))
    return problems + gate_problems(section(deployment, "gate"), at)


def gate_problems(gate: Mapping, at: Locate) -> list[Problem]:
    """A positive timeout and a pass rate from 0 to 100."""
    problems = []
    timeout, rate = gate.get("timeout"), gate.get("min_pass_rate")
    if isinstance(timeout, int) and timeout < 1:
        problems.append(at(("deployment", "gate", "timeout"),
                           f"timeout {timeout} is not a number of seconds",
                           "set deployment.gate.timeout to 1 or more (seconds)"))
    if isinstance(rate, int) and not 0 <= rate <= 100:
        problems.append(at(("deployment", "gate", "min_pass_rate"),
                           f"pass rate {rate} is not a percentage",
                           "set deployment.gate.min_pass_rate from 0 to 100"))
    return problems


def self_test_problems(merged: Mapping, at: Locate) -> list[Problem]:
    """`deployment.gate.self_test` is `none` or `<service>:<path>` of a routed service,
    its path one Caddy sends to that service."""
    setting = section(section(merged, "deployment"), "gate").get("self_test")
    if not isinstance(setting, str) or setting.strip() in ("", "none"):
        return []
    keys, fix = ("deployment", "gate", "self_test"), "write <service>:<path>, e.g. "
    service, _, path = setting.strip().partition(":")
    routes = {str(n): str(s.get("route") or "") for n, s in section(merged, "services").items()
              if isinstance(s, Mapping) and s.get("route") and s.get("port")}
    if not path.startswith("/"):
        return [at(keys, f"{setting!r} is not <service>:<path>",
                   fix + "report:/report/status?format=json, or none")]
    if service not in routes:
        return [at(keys, f"{service!r} is not a service routed behind Caddy (routed: "
                         f"{', '.join(sorted(routes)) or 'none'})",
                   fix + "naming a service that has a port and a route, or none")]
    if route_of(path, routes) != service:
        return [at(keys, f"Caddy sends {path} to {route_of(path, routes) or 'no service'}, "
                         f"not to {service}",
                   f"give a path under {service}'s route {routes[service]}")]
    return []


def route_of(path: str, routes: Mapping[str, str]) -> str:
    """The service whose route is the longest prefix of `path` ('' when none; pure)."""
    bare = path.split("?", 1)[0]
    fits = [(len(r.rstrip("/")), n) for n, r in routes.items()
            if r.rstrip("/") == "" or bare == r.rstrip("/") or bare.startswith(
                r.rstrip("/") + "/")]
    return max(fits)[1] if fits else ""


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
