"""Jinja2 rendering of the template files in dockerfiles/, charts/ and caddy/."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from axion_build.paths import TEMPLATES


@functools.cache
def environment():
    """A strict environment: an undefined name is an error, never an empty string.

    Jinja2 is imported here, not at start-up: a no-op run renders nothing. Compiled
    templates are kept in Jinja2's bytecode cache (a private folder of this user under
    the temp dir, keyed by each template's source), so a run renders without compiling.
    """
    from jinja2 import Environment, FileSystemBytecodeCache, FileSystemLoader, StrictUndefined

    return Environment(
        loader=FileSystemLoader([str(TEMPLATES)]),
        bytecode_cache=FileSystemBytecodeCache(),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )


def render(template: str, **context: Any) -> str:
    """Render `template` (a path relative to the repo root, e.g. 'caddy/Caddyfile.j2')."""
    return environment().get_template(template).render(**context)


def template_files(*folders: str) -> list[Path]:
    """Every template file under the given folders, for file_dep."""
    files: list[Path] = []
    for folder in folders:
        files += sorted(p for p in (TEMPLATES / folder).rglob("*") if p.is_file())
    return files
