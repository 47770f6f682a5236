"""The app tree: which modules compile, which stay Python, where they go."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from axion_build.config.model import CompileSpec

PYTHON_ONLY_NAMES = ("__init__.py",)
SHARED_MODULE = "_axion_cyshared"


@dataclass(frozen=True)
class ModuleSource:
    """One compilable module: its path in the app tree and its factory set."""

    relpath: str
    factory_set: str

    @property
    def name(self) -> str:
        """Bare import name (modules are imported by bare name)."""
        return Path(self.relpath).stem

    @property
    def stem_path(self) -> str:
        """Path without the `.py` suffix."""
        return self.relpath[: -len(".py")]


def stays_python(path: Path) -> bool:
    """`__init__.py` and `Serve*.py` entry scripts are never compiled."""
    return path.name in PYTHON_ONLY_NAMES or path.name.startswith("Serve")


def find_modules(app_root: Path, spec: CompileSpec) -> list[ModuleSource]:
    """Every module of the configured factory sets, nested folders included, sorted."""
    excluded = set(spec.exclude)
    found = []
    for factory_set in spec.factory_sets:
        for path in sorted((app_root / factory_set).rglob("*.py")):
            relpath = path.relative_to(app_root).as_posix()
            if stays_python(path) or relpath in excluded or "__pycache__" in path.parts:
                continue
            found.append(ModuleSource(relpath=relpath, factory_set=factory_set))
    return found


def python_files(app_root: Path, spec: CompileSpec) -> list[str]:
    """App files that ship as Python source: entry scripts, `__init__.py`, excludes."""
    compiled = {m.relpath for m in find_modules(app_root, spec)}
    files = sorted(p.name for p in app_root.glob("Serve*.py"))
    for factory_set in spec.factory_sets:
        for path in sorted((app_root / factory_set).rglob("*.py")):
            relpath = path.relative_to(app_root).as_posix()
            if relpath not in compiled and "__pycache__" not in path.parts:
                files.append(relpath)
    return files


def platform_slug(platform: str) -> str:
    """`linux/arm64` → `linux-arm64`, for folder names."""
    return platform.replace("/", "-")
