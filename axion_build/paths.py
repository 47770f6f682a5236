"""Where things are: the project being built, the tool's templates, the build folder.

The project is the repo a command runs in (found by walking up from the working
directory, as git and doit do), never the place this package was installed from.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
# installed, the templates are package data beside the code; in a source checkout they
# are the checkout's own top-level folders (dockerfiles/, charts/, caddy/, deploy/, init/, reports/)
TEMPLATES = (PACKAGE_DIR / "templates" if (PACKAGE_DIR / "templates").is_dir()
             else PACKAGE_DIR.parent)
TEMPLATE_FOLDERS = ("dockerfiles", "charts", "caddy", "deploy", "init", "reports")


def is_project_root(folder: Path) -> bool:
    """A folder holding a `dodo.py`, or a pyproject.toml with a [tool.axion] or [tool.doit]."""
    if (folder / "dodo.py").is_file():
        return True
    pyproject = folder / "pyproject.toml"
    if not pyproject.is_file():
        return False
    try:
        tools = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("tool", {})
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False
    return "axion" in tools or "doit" in tools


def find_project_root(start: Path | None = None) -> Path | None:
    """The nearest project root at or above `start` (the working directory by default)."""
    start = (start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if is_project_root(folder):
            return folder
    return None


def project_root() -> Path:
    """The project of the working directory, or the working directory itself."""
    return find_project_root() or Path.cwd().resolve()


def config_dir() -> Path:
    """Where package configs live (`AXION_CONFIG_DIR` overrides, for tests and other trees)."""
    override = os.environ.get("AXION_CONFIG_DIR")
    return Path(override) if override else project_root() / "config"


def build_root() -> Path:
    """The project's build folder: doit's database, the run lock, records."""
    return project_root() / "build"


def doit_database() -> Path:
    """doit's dependency database, cached with the build folder in CI."""
    return build_root() / ".doit.sqlite3"


SYSTEM_CACHE = Path("/var/cache/axion-build")


def cache_root() -> Path:
    """The machine's cache (ccache, root filesystems, wheels, pip's cache):
    `AXION_CACHE`, else /var/cache/axion-build for root (or where it is writable), else
    the user's own `~/.cache/axion-build` (`$XDG_CACHE_HOME`)."""
    if override := os.environ.get("AXION_CACHE"):
        return Path(override)
    if os.geteuid() == 0 or os.access(SYSTEM_CACHE, os.W_OK):
        return SYSTEM_CACHE
    user = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(user) / "axion-build"


def template(relative: str) -> Path:
    """A template file by its path under the template root (e.g. 'caddy/Caddyfile.j2')."""
    return TEMPLATES / relative


def under_cwd(path: Path) -> Path:
    """`path` relative to the working directory when inside it (so a checkout that moves,
    as in CI, keeps doit's recorded dependencies valid), else absolute."""
    resolved = path.resolve()
    try:
        return resolved.relative_to(Path.cwd())
    except ValueError:
        return resolved
