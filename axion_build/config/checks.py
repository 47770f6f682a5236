"""Every check of a package config document in one pass: schema, environment, values, paths."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from axion_build.config.env import apply_env
from axion_build.config.modulenames import name_problems
from axion_build.config.problems import Problem
from axion_build.config.references import path_problems
from axion_build.config.schema import check_document
from axion_build.config.values import value_problems


def check_config(doc: Any, path: Path, environ: Mapping[str, str]) -> tuple[dict, list[Problem]]:
    """The overridden mapping and every problem that stops it loading, found together."""
    problems = check_document(doc, path)
    if not isinstance(doc, Mapping):
        return {}, problems
    merged, env_problems = apply_env(doc, path, environ)
    problems += env_problems
    problems += value_problems(merged, doc, path, environ)
    paths = path_problems(merged, doc, path, environ)
    problems += paths
    if not paths:
        problems += name_problems(merged, path)
    return merged, problems
