"""`AXION_{SECTION}_{OPTION}` overrides applied to a config document, typed by the schema."""

from __future__ import annotations

from collections.abc import Mapping
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
    return merged, problems


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
