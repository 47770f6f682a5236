"""Options that name files and folders of the app tree: inside it (symlinks resolved), present.

The pipeline writes under the build folder by these paths, so one that leaves the app
tree would have it read, copy or overwrite files elsewhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from axion_build.config.model import env_name
from axion_build.config.problems import Problem, line_of, located
from axion_build.config.values import section
from axion_build.paths import under_cwd

IMAGE_FILES = ("requirements_file", "requirements_ai_file", "arm_exclude_file")
DEFAULT_FILES = {"requirements_file": "resource.config/requirements.txt",
                 "requirements_ai_file": "resource.config/requirements-ai.txt",
                 "arm_exclude_file": "resource.config/requirements-arm-exclude.txt"}
# entry scripts reach Dockerfiles, compose files and supervisord command lines
SCRIPT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_][A-Za-z0-9_.-]*)*\.py$")
INSIDE_FIX = "use a path inside the app tree, relative to it"


def app_root_of(merged: Mapping, path: Path) -> Path | None:
    """The configured app tree (relative to the config file), or None when not a string."""
    root = section(merged, "package").get("app_root")
    return under_cwd(path.parent / root) if isinstance(root, str) and root.strip() else None


def outside(root: Path, relative: str) -> str:
    """Why `relative` is not a path strictly inside `root` ('' when it is)."""
    real_root = root.resolve()
    target = (root / relative).resolve()
    if real_root in target.parents:
        return ""
    return f"{relative} resolves to {target}, outside the app tree {real_root}"


def references(merged: Mapping) -> Iterator[tuple[tuple[str, ...], int | None, Any, str]]:
    """(option keys, list index or None, value, kind) of every option naming an app path."""
    for name, spec in section(merged, "services").items():
        if isinstance(spec, Mapping) and "script" in spec:
            yield ("services", str(name), "script"), None, spec["script"], "script"
    compile_section = section(merged, "compile")
    for option, kind in (("factory_sets", "folder"), ("exclude", "module")):
        items = compile_section.get(option)
        for index, item in enumerate(items if isinstance(items, list) else []):
            yield ("compile", option), index, item, kind
    images = section(merged, "images")
    for option in IMAGE_FILES:
        if option in images:
            yield ("images", option), None, images[option], "file"


def at_item(path: Path, doc: Any, environ: Mapping[str, str], keys: tuple[str, ...],
            index: int | None, message: str, fix: str) -> Problem:
    """A problem at an option or at one item of a list option (the item's own line)."""
    problem = located(path, doc, environ, keys, message, fix)
    if index is None or env_name(keys) in environ:
        return problem
    node = doc
    for key in keys:
        node = node.get(key) if isinstance(node, Mapping) else None
    return Problem(path, line_of(node, index) or problem.line, problem.field, message, fix)


def path_problems(merged: Mapping, doc: Any, path: Path,
                  environ: Mapping[str, str]) -> list[Problem]:
    """Every app path option is a relative path inside the app tree; scripts are safe names."""
    root = app_root_of(merged, path)
    problems = []
    for keys, index, value, kind in references(merged):
        found = unusable(root, value, kind)
        if found:
            problems.append(at_item(path, doc, environ, keys, index, *found))
    return problems


def unusable(root: Path | None, value: Any, kind: str) -> tuple[str, str] | None:
    """(message, fix) when an app path option's value cannot be used, or None."""
    if not isinstance(value, str) or not value.strip():
        return f"expected a {kind} path, got {value!r}", INSIDE_FIX
    if kind == "folder" and root is not None and (root / value).resolve() == root.resolve():
        return whole_tree(root, value)
    if root is not None and (reason := outside(root, value)):
        return reason, INSIDE_FIX
    if kind == "script" and not SCRIPT.match(value):
        return (f"{value!r} is not an entry script name", "use a path of letters, digits, "
                "'_', '.' and '-' ending in .py, e.g. ServeReport.py")
    return None


def whole_tree(root: Path, value: str) -> tuple[str, str]:
    """(message, fix) for a factory set that names the app tree itself (`.`)."""
    found = sorted(p.name for p in root.glob("factory.*") if p.is_dir() and not p.is_symlink())
    return (f"{value!r} is the app tree itself, not a factory set (a factory.* folder "
            "inside the app tree)", "list the factory.* folders to compile"
            + (f", e.g. [{', '.join(found)}]" if found else ", relative to the app tree"))


def file_problems(merged: Mapping, doc: Any, path: Path,
                  environ: Mapping[str, str]) -> list[Problem]:
    """The app tree and every file or folder its options name exist."""
    root = app_root_of(merged, path)
    if root is None:
        return []
    if not root.is_dir():
        return [located(path, doc, environ, ("package", "app_root"),
                        f"app tree {root} does not exist",
                        "point app_root at the app tree, relative to this file")]
    problems = []
    for keys, index, value, kind in references(merged):
        if unusable(root, value, kind):
            continue  # reported by path_problems
        found = missing(root, value, kind, keys, section(merged, "images"))
        if found:
            problems.append(at_item(path, doc, environ, keys, index, *found))
    images = section(merged, "images")
    if "requirements_file" not in images:
        default = DEFAULT_FILES["requirements_file"]
        if not (root / default).is_file():
            problems.append(located(path, doc, environ, ("images",),
                                    f"{default} not found in {root}",
                                    f"create {default} or set images.requirements_file"))
    return problems


def missing(root: Path, value: str, kind: str, keys: tuple[str, ...],
            images: Mapping) -> tuple[str, str] | None:
    """(message, fix) when the path an option names is not there, or None."""
    target = root / value
    if kind == "script" and not target.is_file():
        return f"{value} not found in {root}", f"create {value} or fix the script name"
    if kind == "folder" and not target.is_dir():
        return f"folder {value} not found in {root}", "remove it or create the folder"
    if kind == "module" and not target.is_file():
        return f"excluded module {value} not found", "use a path relative to the app tree"
    needed = keys[-1] == "requirements_file" or (keys[-1] == "requirements_ai_file"
                                                 and images.get("ai") is True)
    if kind == "file" and needed and not target.is_file():
        return f"{value} not found in {root}", f"create {value} or fix the path"
    if kind == "file" and target.exists() and not target.is_file():
        return f"{value} in {root} is not a file", f"point images.{keys[-1]} at a file"
    return None
