"""Pure checks of a package config document against the schema."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from axion_build.config.model import REQUIRED, SCHEMA, SERVICE_SCHEMA
from axion_build.config.problems import Problem, line_of

TYPE_WORDS = {"str": "a string", "int": "an integer", "bool": "true or false",
              "list": "a list", "dict": "a mapping", "port": "a port number (1-65535) or null"}
BOOL_WORDS = {"1": True, "true": True, "yes": True, "on": True,
              "0": False, "false": False, "no": False, "off": False}


def type_ok(value: Any, kind: str) -> bool:
    """Whether a YAML value has the schema type `kind`."""
    if kind == "str":
        return isinstance(value, str)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "list":
        return isinstance(value, list)
    if kind == "dict":
        return isinstance(value, Mapping)
    if kind == "port":
        return value is None or (type_ok(value, "int") and 1 <= value <= 65535)
    raise ValueError(kind)


def coerce(text: str, kind: str) -> tuple[bool, Any]:
    """Type an environment value; (False, message) when it cannot be."""
    text = text.strip()
    if kind == "str":
        return True, text
    if kind in ("int", "port"):
        if kind == "port" and text.lower() in ("", "null", "none"):
            return True, None
        try:
            number = int(text)
        except ValueError:
            return False, f"expected {TYPE_WORDS[kind]}, got {text!r}"
        if kind == "port" and not 1 <= number <= 65535:
            return False, f"expected {TYPE_WORDS[kind]}, got {text!r}"
        return True, number
    if kind == "bool":
        if text.lower() in BOOL_WORDS:
            return True, BOOL_WORDS[text.lower()]
        return False, f"expected true or false, got {text!r}"
    if kind == "list":
        return True, [part.strip() for part in text.split(",") if part.strip()]
    return False, f"cannot set a {kind} from the environment"


def check_document(doc: Any, path: Path) -> list[Problem]:
    """Every schema problem of a loaded config document."""
    if not isinstance(doc, Mapping):
        return [Problem(path, line_of(doc), "", "the file must be a mapping of sections",
                        "start from config/homechoice.yaml")]
    problems = check_mapping(doc, SCHEMA, (), path)
    for section, keys in REQUIRED.items():
        if section not in doc:
            problems.append(Problem(path, 1, section, "missing required section",
                                    f"add a '{section}:' section"))
            continue
        for key in keys:
            if isinstance(doc[section], Mapping) and key not in doc[section]:
                problems.append(Problem(path, line_of(doc, section), f"{section}.{key}",
                                        "missing required option",
                                        f"add '{key}:' under '{section}:'"))
    problems += check_ports(doc.get("services"), path)
    return problems


def check_mapping(node: Mapping, schema: Any, prefix: tuple[str, ...],
                  path: Path) -> list[Problem]:
    """Unknown keys and wrong types under one mapping, recursively."""
    problems = []
    for key, value in node.items():
        where = ".".join((*prefix, str(key)))
        line = line_of(node, key)
        if schema == "services":
            problems += check_service(value, where, line, path)
            continue
        if key not in schema:
            known = ", ".join(k for k in schema)
            problems.append(Problem(path, line, where, "unknown option",
                                    f"remove it or use one of: {known}"))
            continue
        sub = schema[key]
        if sub == "services" or isinstance(sub, dict):
            if value is None:
                continue
            if not isinstance(value, Mapping):
                problems.append(Problem(path, line, where, "expected a mapping",
                                        f"write '{key}:' followed by indented options"))
                continue
            problems += check_mapping(value, sub, (*prefix, str(key)), path)
        elif not type_ok(value, sub):
            problems.append(Problem(path, line, where,
                                    f"expected {TYPE_WORDS[sub]}, got {value!r}",
                                    f"set {where} to {TYPE_WORDS[sub]}"))
    return problems


def check_service(spec: Any, where: str, line: int, path: Path) -> list[Problem]:
    """Problems of one service entry."""
    if not isinstance(spec, Mapping):
        return [Problem(path, line, where, "expected a mapping with script, args, port, route",
                        f"write '{where.split('.')[-1]}:' then 'script: Serve<Name>.py'")]
    problems = check_mapping(spec, SERVICE_SCHEMA, tuple(where.split(".")), path)
    if "script" not in spec:
        problems.append(Problem(path, line, f"{where}.script", "missing entry script",
                                "add 'script: Serve<Name>.py'"))
    route = spec.get("route")
    if route and isinstance(route, str) and not route.startswith("/"):
        problems.append(Problem(path, line_of(spec, "route"), f"{where}.route",
                                f"route {route!r} must start with '/'",
                                f"write '/{route}'"))
    if route and spec.get("port") is None:
        problems.append(Problem(path, line_of(spec, "route"), f"{where}.route",
                                "a routed service needs a port", "add 'port: <number>'"))
    return problems


def check_ports(services: Any, path: Path) -> list[Problem]:
    """Two services may not share a port."""
    if not isinstance(services, Mapping):
        return []
    seen: dict[int, str] = {}
    problems = []
    for name, spec in services.items():
        port = spec.get("port") if isinstance(spec, Mapping) else None
        if not isinstance(port, int) or isinstance(port, bool):
            continue
        if port in seen:
            problems.append(Problem(path, line_of(spec, "port"), f"services.{name}.port",
                                    f"port {port} is already used by service {seen[port]!r}",
                                    "give each service its own port"))
        else:
            seen[port] = str(name)
    return problems
