"""`axion init`: a package config and a dodo.py for a repo that holds only an app tree."""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from axion_build.adapters.fs import write_atomic
from axion_build.render import render

CONFIG_TEMPLATE = "init/package.yaml.j2"
DODO_TEMPLATE = "init/dodo.py.j2"
# validate wants the requirements file; an app without one gets an empty file to fill in
REQUIREMENTS = Path("resource.config") / "requirements.txt"
BUILD_FOLDER = "build"  # the template's `build.folder: ../build`, from config/


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


def repo_problem(repo: Path) -> str:
    """Why `repo` cannot take a dodo.py ('' when it can): it must be an existing folder
    that is a project, not one every project sits below (a dodo.py makes its folder the
    project root of everything under it)."""
    if not repo.is_dir():
        what = "is not a folder" if repo.exists() else "does not exist"
        return f"--repo {repo} {what} (axion init writes into an existing repo only)"
    real = repo.resolve()
    shared = {Path("/"): "the root folder", Path(tempfile.gettempdir()).resolve():
              "the temporary folder", Path.home().resolve(): "the home folder"}
    if real in shared:
        return (f"--repo {repo} is {shared[real]} ({real}): a dodo.py there would make it "
                "the project root of every folder below it; name the repo's own folder")
    return ""


def app_root_problem(app_root: Path, repo: Path) -> str:
    """Why the app tree cannot be this repo's ('' when it can): it must be a folder inside
    the repo, or `axion keys` writes private keys into a tree the repo does not hold."""
    if not app_root.is_dir():
        return f"no app tree at {app_root}"
    app, top = app_root.resolve(), repo.resolve()
    if app == top:
        return (f"the app tree {app} is the repo {top} itself: keep it in a folder of its "
                "own inside the repo (the build folder and config/ go beside it)")
    if top not in app.parents:
        return (f"the app tree {app} is outside the repo {top}: its data.config/ (private "
                "keys) and build would not be this repo's; move the app tree into the repo "
                "or run axion init in the repo that holds it (--repo)")
    return ""


def init_files(package: str, app_root: Path, repo: Path) -> dict[Path, str]:
    """The config and dodo.py `axion init` writes into `repo`, by path."""
    config = repo / "config" / f"{package}.yaml"
    relative = Path(os.path.relpath(app_root.resolve(), config.parent.resolve())).as_posix()
    text = render(CONFIG_TEMPLATE, package=package, app_root=relative,
                  factory_sets=found_factory_sets(app_root), services=found_services(app_root))
    return {config: text, repo / "dodo.py": render(DODO_TEMPLATE)}


def ignored_lines(app_root: Path, repo: Path) -> list[str]:
    """What the repo's .gitignore must hold: the app's keys folder and the build folder."""
    app = app_root.resolve().relative_to(repo.resolve()).as_posix()
    return [f"/{app}/data.config/", f"/{BUILD_FOLDER}/"]


def extend_gitignore(app_root: Path, repo: Path) -> str:
    """Add what `ignored_lines` names to the repo's .gitignore, keeping what is there."""
    path = repo / ".gitignore"
    text = path.read_text() if path.is_file() else ""
    present = {line.strip() for line in text.splitlines()}
    wanted = [line for line in ignored_lines(app_root, repo) if line not in present]
    if not wanted:
        return f"kept {path} (ignores the keys and the build folder)"
    added = ("\n" if text and not text.endswith("\n") else "") + "".join(
        f"{line}\n" for line in ["# axion: private keys and build output", *wanted])
    with path.open("a", encoding="utf-8") as ignore:  # appended: the file stays the user's
        ignore.write(added)
    return f"{'added' if text else 'wrote'} {', '.join(wanted)} {'to' if text else 'in'} {path}"


def empty_requirements(app_root: Path) -> str:
    """An empty requirements file for an app that has none ('' when it has one)."""
    path = app_root / REQUIREMENTS
    if path.exists():
        return ""
    write_atomic(path, "")
    return (f"wrote {path} (empty: the app had none; list the pip requirements of its "
            "images there)")


def init_repo(package: str, app_root: Path, repo: Path) -> list[str]:
    """Write the files `init_files` gives, never over an existing one; what was done."""
    done = []
    for path, text in init_files(package, app_root, repo).items():
        if path.exists():
            done.append(f"kept {path} (exists)")
            continue
        write_atomic(path, text)
        done.append(f"wrote {path}")
    done.append(extend_gitignore(app_root, repo))
    return done + list(filter(None, [empty_requirements(app_root)]))
