"""Configuration problems: where (file, line, field), what, and the fix."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input, located and with its fix."""

    file: Path
    line: int
    field: str
    message: str
    fix: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else f"{self.file}"
        what = f"{self.field}: {self.message}" if self.field else self.message
        return f"{where}: {what}" + (f" (fix: {self.fix})" if self.fix else "")


class ConfigError(Exception):
    """Every problem found, raised at once."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = list(problems)
        super().__init__(self.report())

    def report(self) -> str:
        """All problems, one a line, with a count."""
        lines = [str(p) for p in self.problems]
        return "\n".join([f"{len(lines)} problem(s):", *lines])


def line_of(node: Any, key: Any = None) -> int:
    """1-based line of `key` in a round-trip mapping (or of the node), 0 if unknown."""
    lc = getattr(node, "lc", None)
    if lc is None:
        return 0
    try:
        if key is None:
            return lc.line + 1
        if isinstance(key, int):
            return lc.item(key)[0] + 1
        return lc.key(key)[0] + 1
    except (KeyError, IndexError, TypeError, AttributeError):
        return lc.line + 1


def located(path: Path, doc: Any, environ: Mapping[str, str], keys: tuple[str, ...],
            message: str, fix: str) -> Problem:
    """A problem at option `keys`, named by where its value came from (file line or env)."""
    from axion_build.config.model import env_name

    name = env_name(keys)
    if name in environ:
        return Problem(Path(f"environment variable {name}"), 0, ".".join(keys), message,
                       f"{fix} (or unset {name})")
    node, line = doc, 0
    for key in keys:
        if not isinstance(node, Mapping) or key not in node:
            break
        line, node = line_of(node, key) or line, node[key]
    return Problem(path, line, ".".join(keys), message, fix)
