"""`axion init`: a package config and a dodo.py for a repo that holds only an app tree."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from axion_build.adapters.fs import write_atomic
from axion_build.render import render

CONFIG_TEMPLATE = "init/package.yaml.j2"
DODO_TEMPLATE = "init/dodo.py.j2"


@dataclass(frozen=True)
class FoundService:
    """A `Serve*.py` entry script at the root of the app tree, as a service."""

    name: str
    script: str


def service_name(script: str) -> str:
    """`ServeWebHook.py` → `webhook` (pure)."""
    return re.sub(r"[^a-z0-9_-]", "", script.removeprefix("Serve").removesuffix(".py").lower())


def found_factory_sets(app_root: Path) -> list[str]:
    """The factory.* folders at the top of the app tree."""
    return sorted(p.name for p in app_root.glob("factory.*") if p.is_dir())


def found_services(app_root: Path) -> list[FoundService]:
    """Every `Serve*.py` at the root of the app tree."""
    return [FoundService(service_name(p.name), p.name)
            for p in sorted(app_root.glob("Serve*.py")) if service_name(p.name)]


def init_files(package: str, app_root: Path, repo: Path) -> dict[Path, str]:
    """The config and dodo.py `axion init` writes into `repo`, by path."""
    config = repo / "config" / f"{package}.yaml"
    relative = Path(os.path.relpath(app_root.resolve(), config.parent.resolve())).as_posix()
    text = render(CONFIG_TEMPLATE, package=package, app_root=relative,
                  factory_sets=found_factory_sets(app_root), services=found_services(app_root))
    return {config: text, repo / "dodo.py": render(DODO_TEMPLATE)}


def init_repo(package: str, app_root: Path, repo: Path) -> list[str]:
    """Write the files `init_files` gives, never over an existing one; what was done."""
    done = []
    for path, text in init_files(package, app_root, repo).items():
        if path.exists():
            done.append(f"kept {path} (exists)")
            continue
        write_atomic(path, text)
        done.append(f"wrote {path}")
    return done
