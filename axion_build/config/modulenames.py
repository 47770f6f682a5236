"""Factory-set modules are imported by bare name: importable, one module a name, no stdlib name.

Every factory folder is on sys.path at run time, so a second module with one name is
never imported, and a module named like a standard library module hides that module.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from pathlib import Path

from axion_build.build.apptree import find_modules, stays_python
from axion_build.config.model import CompileSpec
from axion_build.config.problems import Problem
from axion_build.config.references import app_root_of, outside
from axion_build.config.values import section


def factory_tree(merged: Mapping, path: Path) -> tuple[Path, CompileSpec] | None:
    """The app tree and compile spec when every factory set is a folder inside the tree."""
    root = app_root_of(merged, path)
    compile_section = section(merged, "compile")
    sets, exclude = compile_section.get("factory_sets"), compile_section.get("exclude") or []
    if root is None or not isinstance(sets, list) or not isinstance(exclude, list):
        return None
    if not all(isinstance(s, str) and s.strip() and not outside(root, s)
               and (root / s).is_dir() for s in sets):
        return None
    return root, CompileSpec(factory_sets=tuple(sets),
                             exclude=tuple(str(e) for e in exclude))


def python_modules(root: Path, spec: CompileSpec) -> list[str]:
    """Every `.py` file of the factory sets that is imported by name (not `__init__.py`)."""
    found = []
    for factory_set in spec.factory_sets:
        for file in sorted((root / factory_set).rglob("*.py")):
            if file.name != "__init__.py" and "__pycache__" not in file.parts:
                found.append(file.relative_to(root).as_posix())
    return found


def name_problems(merged: Mapping, path: Path) -> list[Problem]:
    """Modules that cannot be compiled or imported: bad names, links out of the tree."""
    tree = factory_tree(merged, path)
    if tree is None:
        return []
    root, spec = tree
    problems = []
    for module in find_modules(root, spec):
        file = root / module.relpath
        if file.is_symlink() and (reason := outside(root, module.relpath)):
            problems.append(Problem(file, 0, "compile.factory_sets", reason,
                                    f"copy the module into the app tree or remove {file}"))
        elif not module.name.isidentifier():
            better = re.sub(r"\W", "_", module.name)
            problems.append(Problem(file, 0, "compile.factory_sets",
                                    f"{module.name!r} is not an importable module name",
                                    f"rename it to {better}.py (letters, digits and '_')"))
        elif "=" in module.relpath:
            problems.append(Problem(file, 0, "compile.factory_sets",
                                    f"{module.relpath}: a folder name holds '=', which a "
                                    "task name cannot", "rename the folder without '='"))
    return problems


def clash_problems(merged: Mapping, path: Path) -> tuple[list[Problem], list[Problem]]:
    """(errors, warnings): two modules of one bare name; modules named like stdlib ones."""
    tree = factory_tree(merged, path)
    if tree is None:
        return [], []
    root, spec = tree
    errors, warnings, seen = [], [], {}
    for relpath in python_modules(root, spec):
        name = Path(relpath).stem
        if name in seen:
            errors.append(Problem(root / relpath, 0, "compile.factory_sets",
                                  f"module {name} is also {seen[name]}: imported by bare "
                                  "name, one hides the other", f"rename {relpath} or {seen[name]}"))
            continue
        seen[name] = relpath
        if name in sys.stdlib_module_names and not stays_python(Path(relpath)):
            warnings.append(Problem(root / relpath, 0, "compile.factory_sets",
                                    f"module {name} has the name of a standard library "
                                    "module and hides it wherever it is imported",
                                    f"rename it, e.g. to Obj{name.capitalize()}.py"))
    return errors, warnings
