"""The package's layout holds: layers without import cycles, small modules, task creators
that only compute dicts, and tests that mirror the layers."""

from __future__ import annotations

import ast
from pathlib import Path

from workspace import ROOT

PACKAGE = ROOT / "axion_build"
LAYERS = {"adapters", "build", "config", "deploy", "publish", "records"}
MAX_LINES = 300


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imported(path: Path, known: set[str], top_level_only: bool = False) -> set[str]:
    """The package's modules `path` imports: anywhere in it, or only at module level."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else ast.walk(tree)
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    found = set()
    for name in names:
        while name and name not in known:
            name = name.rpartition(".")[0]
        if name:
            found.add(name)
    return found


def import_graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {name: imported(path, known) - {name, "axion_build"} for name, path in mods.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(graph.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                other = stack.pop()
                component.append(other)
                if other == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_import_graph_has_no_cycle_counting_imports_inside_functions():
    graph = import_graph()
    assert "axion_build.records.report" in graph["axion_build.records.writer"]
    assert cycles(graph) == []


def test_library_modules_are_small():
    long = {name: n for name, path in modules().items()
            if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert long == {}, f"modules over {MAX_LINES} lines: {long}"


def test_the_library_is_in_layers_a_newcomer_can_name():
    # installed, the wheel adds `axion_build.tasks` and `axion_build.templates` from the
    # checkout's top-level folders
    assert {p.parent.name for p in PACKAGE.glob("*/__init__.py")} == LAYERS


def test_tasks_hold_one_creator_module_per_stage_and_no_engine_import():
    known = set(modules())
    for path in sorted((ROOT / "tasks").glob("*.py")):
        if path.name == "__init__.py":
            continue
        tree = ast.parse(path.read_text())
        creators = [n.name for n in tree.body
                    if isinstance(n, ast.FunctionDef) and n.name.startswith("task_")]
        assert creators, f"{path.name} defines no task creator"
        # loading the task list never loads the engine's client
        assert "axion_build.adapters.docker" not in imported(path, known, top_level_only=True)


def test_tests_mirror_the_layers():
    """Each test folder is named after a layer and tests that layer's code (imported, or
    named in the dodo file it runs); tests of the whole tool stay at the top."""
    folders = {p.name for p in (ROOT / "tests").iterdir()
               if p.is_dir() and any(p.glob("test_*.py"))}
    assert folders <= LAYERS, folders - LAYERS
    for folder in folders:
        for test in (ROOT / "tests" / folder).glob("test_*.py"):
            assert f"axion_build.{folder}" in test.read_text(), \
                f"{test.relative_to(ROOT)} tests nothing of axion_build.{folder}"


def test_pytest_collects_every_test_file():
    """No test folder is skipped by a collection rule (pytest skips `build` by default)."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    collected = {line.split("::", 1)[0] for line in done.stdout.splitlines() if "::" in line}
    files = {str(p.relative_to(ROOT)) for p in (ROOT / "tests").rglob("test_*.py")}
    assert files == collected, files ^ collected
