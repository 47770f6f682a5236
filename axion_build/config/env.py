"""`AXION_{SECTION}_{OPTION}` overrides applied to a config document, typed by the schema.

Every `AXION_*` variable of the environment must be an option of the schema (a service's
options under the services the file declares) or one of the tool's own variables: a
misspelt override would otherwise be ignored in silence. Each override's value is typed
whether or not the file sets the option.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from axion_build.config.model import SCHEMA, SERVICE_SCHEMA, env_name
from axion_build.config.problems import Problem
from axion_build.config.schema import coerce


def apply_env(doc: Mapping, path: Path, environ: Mapping[str, str]) -> tuple[dict, list[Problem]]:
    """A plain copy of `doc` with every `AXION_*` override applied and typed."""
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
                apply_override(out, key, keypath, sub, environ, problems)
        return out

    merged = walk(doc, SCHEMA, ())
    add_unset_env(merged, environ, problems)
    add_unset_service_env(merged, environ, problems)
    problems += unknown_variables(merged, environ)
    return merged, problems


# the tool's own variables (not options), and what the images and runs set for themselves
TOOL_VARIABLES = frozenset({
    "AXION_CACHE", "AXION_CONFIG_DIR", "AXION_CONFIG_FILE", "AXION_SPOOL_DIR",
    "AXION_LOCK_WAIT", "AXION_KEYS_DIR", "AXION_RUN_ID", "AXION_RECORDING_REPORTER",
    "AXION_REMOTE_ENGINE", "AXION_PYTHON", "AXION_TRIXIE_MIRROR", "AXION_SERVICE",
    "AXION_PACKAGE", "AXION_HOME", "AXION_AI_ENABLED", "AXION_IMAGE_TAG", "AXION_IMAGE_KIND",
})
TOOL_PREFIXES = ("AXION_FLAG_",)  # the pipeline's flags, checked by config/flags.py


def option_names(schema: Mapping, services: Mapping,
                 prefix: tuple[str, ...] = ()) -> Iterator[str]:
    """Every `AXION_*` name an option of the schema has (services: those declared)."""
    for key, kind in schema.items():
        keypath = (*prefix, key)
        if isinstance(kind, dict):
            yield from option_names(kind, services, keypath)
        elif kind == "services":
            for name in services:
                yield from (env_name((*keypath, str(name), o)) for o in SERVICE_SCHEMA)
        else:
            yield env_name(keypath)


def unknown_variables(merged: Mapping, environ: Mapping[str, str]) -> list[Problem]:
    """A problem for each `AXION_*` variable that names no option, with the closest one."""
    services = merged.get("services") if isinstance(merged.get("services"), Mapping) else {}
    known = set(option_names(SCHEMA, services))
    problems = []
    for name in sorted(environ):
        if (not name.startswith("AXION_") or name in known or name in TOOL_VARIABLES
                or name.startswith(TOOL_PREFIXES)):
            continue
        close = difflib.get_close_matches(name, sorted(known | TOOL_VARIABLES), n=1)
        fix = f"did you mean {close[0]}? Else unset {name}" if close else f"unset {name}"
        problems.append(Problem(Path(f"environment variable {name}"), 0, "",
                                "names no option of the package config", fix))
    return problems


def add_unset_service_env(merged: dict, environ: Mapping[str, str],
                          problems: list[Problem]) -> None:
    """Apply overrides of the declared services' options the file leaves out."""
    services = merged.get("services")
    for name, spec in (services.items() if isinstance(services, dict) else ()):
        if not isinstance(spec, dict):
            continue
        for option, kind in SERVICE_SCHEMA.items():
            keypath = ("services", str(name), option)
            if option not in spec and env_name(keypath) in environ:
                apply_override(spec, option, keypath, kind, environ, problems)


def add_unset_env(merged: dict, environ: Mapping[str, str], problems: list[Problem],
                  schema: Mapping | None = None, prefix: tuple[str, ...] = ()) -> None:
    """Apply overrides of options the file leaves out (e.g. `AXION_DATABASE_PASSWORD`)."""
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
        apply_override(merged, key, keypath, kind, environ, problems)


def apply_override(target: dict, key: str, keypath: tuple[str, ...], kind: str,
                   environ: Mapping[str, str], problems: list[Problem]) -> None:
    """Set `target[key]` from its `AXION_*` variable, or record why its value cannot be."""
    name = env_name(keypath)
    ok, typed = coerce(environ[name], kind)
    if ok:
        target[key] = typed
    else:
        problems.append(Problem(Path(f"environment variable {name}"), 0, ".".join(keypath),
                                typed, f"set {name} to {kind}"))


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
