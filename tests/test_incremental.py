"""Incremental equals clean: after any change, a rerun ships exactly what a clean build of
the same tree ships, and rebuilds only what the change feeds.

One workspace and one checkout of the tool serve every case, in order: each case changes
one kind of input, runs the pipeline incrementally, snapshots every image (files and
config) and the deploy files, wipes the build folder and the images, builds clean, and
compares. The clean build is the next case's starting point.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from imagefs import differences, image_snapshot, tree_snapshot
from workspace import FIXTURES, Workspace, copy_checkout, make_workspace, provision, ran_tasks

PACKAGE = "incr"
TARGETS = ("runtime", "shop", "stock", "caddy")
MODULES = ("factory.shop/ObjCart.py", "factory.shop/nested.pricing/ObjPrice.py",
           "factory.util/ObjMath.py", "_axion_cyshared")
ALT_RUNTIME = "axion-test/incr-runtime:alt"
BUILDER = "axion-base/bookworm-builder:latest"
RUNTIME = "axion-base/bookworm-runtime:latest"

pytestmark = pytest.mark.e2e


def tag_of(target: str) -> str:
    """The local tag of an image target."""
    return f"axion-{PACKAGE}:{'latest' if target == 'runtime' else target}"


def append(path: Path, text: str) -> None:
    """Add `text` at the end of a file."""
    path.write_text(path.read_text() + text)


def edit_config(ws: Workspace, old: str, new: str) -> None:
    """Replace one piece of the package config's text."""
    text = ws.config_file.read_text()
    assert old in text, f"{old!r} not in {ws.config_file}"
    ws.config_file.write_text(text.replace(old, new, 1))


def use_alt_runtime(ws: Workspace) -> None:
    """Point the runtime base at another local image (not bootstrapped by the pipeline)."""
    context = ws.root / "alt-base"
    context.mkdir(exist_ok=True)
    (context / "Dockerfile").write_text(f"FROM {RUNTIME}\nRUN echo alt > /etc/axion-alt\n")
    subprocess.run(["docker", "build", "-q", "-t", ALT_RUNTIME, str(context)], check=True,
                   capture_output=True)
    append(ws.config_file, f"\nimages:\n  bootstrap: false\n  base_image: {BUILDER}\n"
                           f"  base_runtime_image: {ALT_RUNTIME}\n")


def wrap_gcc(ws: Workspace) -> None:
    """A gcc that says it is another version (a toolchain upgrade) and compiles the same."""
    folder = ws.root / "toolchain-bin"
    folder.mkdir(exist_ok=True)
    real = shutil.which("gcc")
    wrapper = folder / "gcc"
    wrapper.write_text("#!/bin/sh\n"
                       'case "$*" in *-dumpfullversion*) echo 12.2.99; echo x86_64-linux-gnu;'
                       f' exit 0;; esac\nexec {real} "$@"\n')
    wrapper.chmod(0o755)
    ws.extra_env["PATH"] = f"{folder}:{ws.env()['PATH']}"


@dataclass(frozen=True)
class Case:
    """One kind of input changed, and what that change must rebuild."""

    name: str
    change: Callable[[Workspace], None]
    images: frozenset[str]  # image targets whose content changes (and only they rebuild)
    modules: frozenset[str] = frozenset()  # compile tasks that run
    deploy_changes: bool = False
    extra: frozenset[str] = field(default=frozenset())  # other tasks that must run
    absent: frozenset[str] = field(default=frozenset())  # tasks that must not run


ALL_MODULES = frozenset(MODULES)
APP_IMAGES = frozenset({"runtime", "shop", "stock"})

CASES = [
    Case("compiled module",
         lambda ws: append(ws.app / "factory.util" / "ObjMath.py",
                           '\n\ndef build_marker():\n    return "EDIT-1"\n'),
         APP_IMAGES, frozenset({"factory.util/ObjMath.py"})),
    Case("entry script", lambda ws: append(ws.app / "ServeStock.py", "\n# edited\n"),
         frozenset({"runtime", "stock"})),
    Case("resource file",
         lambda ws: append(ws.app / "resource.web" / "index.html", "<p>edited</p>\n"),
         APP_IMAGES),
    Case("requirements",
         lambda ws: append(ws.app / "resource.config" / "requirements.txt", "six==1.16.0\n"),
         APP_IMAGES, extra=frozenset({f"image:{PACKAGE}:wheelhouse"})),
    Case("service port and args",
         lambda ws: edit_config(ws, 'args: [--port, "9800"]\n    port: 9800',
                                'args: [--port, "9801"]\n    port: 9801'),
         # the dispatcher's entrypoint (in every app image) knows each service's command
         frozenset(TARGETS), deploy_changes=True),
    Case("base image", use_alt_runtime, frozenset(TARGETS), deploy_changes=False),
    Case("compile directives",
         lambda ws: edit_config(ws, "compile:\n", "compile:\n  directives:\n"
                                "    language_level: 3\n    boundscheck: false\n"),
         APP_IMAGES, ALL_MODULES),
    Case("image template",
         lambda ws: append(ws.tool / "dockerfiles" / "entrypoint.sh.j2", "\n# edited\n"),
         APP_IMAGES),
    # deploy templates live apart from the image templates: the build context ignores them
    Case("deploy template",
         lambda ws: append(ws.tool / "deploy" / "compose.yaml.j2", "\n# edited\n"),
         frozenset(), deploy_changes=True, absent=frozenset({f"image:{PACKAGE}:context"})),
    Case("toolchain", wrap_gcc, frozenset(), ALL_MODULES),
]


def snapshot(ws: Workspace) -> dict:
    """Every image of the package, the deploy files and the compiled app tree."""
    return {"images": {t: image_snapshot(tag_of(t)) for t in TARGETS},
            "deploy": {"files": tree_snapshot(ws.build / "deploy")},
            "app": {"files": tree_snapshot(ws.build / "linux-amd64" / "app")}}


def pipeline(ws: Workspace) -> set[str]:
    """Run the pipeline (no push); the tasks it ran."""
    done = ws.doit(f"pipeline:{PACKAGE}", "skip_push=1", check=True, **ws.extra_env)
    return set(ran_tasks(done.stdout))


def wipe(ws: Workspace) -> None:
    """Nothing left of earlier builds: no build folder, no doit state, no images."""
    shutil.rmtree(ws.root / "build")
    (ws.root / "build").mkdir()
    tags = [tag_of(t) for t in TARGETS] + [f"axion-caddy:{PACKAGE}"]
    subprocess.run(["docker", "image", "rm", "--force", *tags], capture_output=True)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, base_images):
    """A checkout of the tool and a package built once, clean."""
    root = tmp_path_factory.mktemp("incremental")
    tool = copy_checkout(root / "tool")
    source = root / "source"
    shutil.copytree(FIXTURES / "shop-config", source)
    (source / f"{PACKAGE}.yaml").write_text(
        (source / "shop.yaml").read_text().replace("name: shop", f"name: {PACKAGE}")
        .replace("app_root: ../shop", f"app_root: ../{PACKAGE}"))
    ws = make_workspace(root / "ws", PACKAGE, app_source=FIXTURES / "shop",
                        config_source=source / f"{PACKAGE}.yaml")
    ws.tool, ws.extra_env = tool, {}
    provision(ws)
    pipeline(ws)
    yield ws
    wipe(ws)
    subprocess.run(["docker", "image", "rm", "--force", ALT_RUNTIME], capture_output=True)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_incremental_build_equals_clean_build(workspace, case):
    ws = workspace
    before = snapshot(ws)
    case.change(ws)
    ran = pipeline(ws)
    incremental = snapshot(ws)
    wipe(ws)
    pipeline(ws)
    clean = snapshot(ws)

    for part in ("deploy", "app"):
        assert differences(incremental[part], clean[part]) == [], part
    for target in TARGETS:
        assert differences(incremental["images"][target], clean["images"][target]) == [], target

    changed = {t for t in TARGETS if before["images"][t] != incremental["images"][t]}
    assert changed == case.images
    rebuilt = {t for t in TARGETS if f"image:{PACKAGE}:{t}" in ran}
    assert rebuilt == case.images
    compiled = {t.rsplit(":", 1)[1] for t in ran if t.startswith(f"compile:{PACKAGE}:amd64:")}
    assert compiled == case.modules
    assert (before["deploy"] != incremental["deploy"]) == case.deploy_changes
    assert case.extra <= ran
    assert not case.absent & ran


def test_an_edit_reaches_the_image_interpreter(workspace):
    ws = workspace
    append(ws.app / "factory.util" / "ObjMath.py", '\n\ndef build_marker():\n    return "SEEN"\n')
    pipeline(ws)
    probe = ("import sys; sys.path[:0] = ['/axion/factory.util', '/axion/factory.shop']; "
             "import ObjMath; print(ObjMath.__file__, ObjMath.build_marker())")
    done = subprocess.run(["docker", "run", "--rm", "--entrypoint", "python", tag_of("shop"),
                           "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["/axion/factory.util/ObjMath.so", "SEEN"]
