"""`bench.py --shared`: the registry as the shared build cache, on two machines.

Machine A is this engine with a checkout of the generated app; machine B is a second
Docker engine (tests/engine2.py: own image store, reached through a docker context) with
a copy of the checkout and a machine cache of its own. They share only a registry of the
bench's own (empty at the start). Timed, side by side in one run:

1. A's cold pipeline (no build folder, no C cache, no image of the package; the bases
   exist on A) vs the same pipeline on B, which has nothing local but a warm shared
   cache (goal <= 0.10x)
2. a one-module edit through the pipeline on B vs an edit of the same module on A
   (goal <= 2x); the two edits differ, so neither machine takes the other's work

Every timed result is checked: B compiled no module and built no image, and the edit
runs in the images of the machine that made them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "tests"), str(HERE)]

from engine2 import start_engine, stop_engine  # noqa: E402
from registryd import start_registry  # noqa: E402

from bench import PROBE, SERVICES, Bench, compile_statuses, ratio, remove_package_images, statuses  # noqa: E402


def image_steps(root: Path) -> list[str]:
    return statuses(root, "SELECT Detail FROM log_build_step WHERE BuildGuid = ? AND "
                          "Stage = 'image' AND Status = 'run' AND Task NOT LIKE '%:context' "
                          "AND Task NOT LIKE '%:wheelhouse'")


def shipped(edit: tuple[str, int], image: str, context: str = "") -> None:
    """Fail unless the edited code is what `image` runs (on the engine of `context`)."""
    module, stamp = edit
    docker = ["docker", *(["--context", context] if context else [])]
    done = subprocess.run([*docker, "run", "--rm", "--entrypoint", "python3", image, "-c",
                           PROBE.format(root="/axion", module=module, stamp=stamp)],
                          capture_output=True, text=True)
    if done.stdout.strip() != str(stamp):
        raise SystemExit(f"the edit of {module} did not reach {image} ({context or 'A'}):\n"
                         f"{done.stdout}{done.stderr}")


def edit(bench: Bench, index: int, stamp: int) -> tuple[str, int]:
    """The same edit on any checkout: one module gains a function returning `stamp`."""
    path = next((bench.root / "app").rglob(f"ObjGen{index}.py"))
    path.write_text(path.read_text() + f"\n\ndef edited_{stamp}():\n    return {stamp}\n")
    return f"ObjGen{index}", stamp


def run_shared(modules: int, work: Path) -> None:
    """The two rows of the shared cache."""
    folder = work / "registry"
    folder.mkdir(parents=True)
    process, url = start_registry(folder)
    registry = url.split("://", 1)[1]
    engine = start_engine()
    try:
        env = {"AXION_REGISTRY_URL": registry, "AXION_REGISTRY_NAMESPACE": "bench",
               "CCACHE_DISABLE": "1"}
        a = Bench(work / "a", modules, package="shared")
        remove_package_images("shared")  # cold: no image of an earlier bench run either
        cold = a.doit("-n", "2", "-P", "process", "pipeline:shared", **env)
        shutil.copytree(a.root, work / "b", ignore=shutil.ignore_patterns("build"))
        (work / "b" / "build").mkdir()
        b = Bench.__new__(Bench)
        b.root, b.modules, b.package = work / "b", modules, "shared"
        b_env = {**env, **engine.env(), "AXION_CACHE": str(work / "cache-b")}
        fresh = b.doit("-n", "2", "-P", "process", "pipeline:shared", **b_env)
        if set(compile_statuses(b.root)) != {"registry-cache"}:
            raise SystemExit(f"B compiled: {compile_statuses(b.root)}")
        built = [d for d in image_steps(b.root) if '"remote"' not in d]
        if built:
            raise SystemExit(f"B built {len(built)} images")
        # each machine makes an edit of its own: the same edit twice would let the
        # second machine take the first one's module and images from the registry
        on_b = edit(b, 9, time.time_ns())
        b_edit = b.doit("pipeline:shared", **b_env)
        on_a = edit(a, 9, time.time_ns())
        a_edit = a.doit("pipeline:shared", **env)
        if "registry-cache" in compile_statuses(a.root):
            raise SystemExit("A's edit was taken from the registry cache")
        for service in ("latest", *SERVICES[:3]):
            shipped(on_b, f"axion-shared:{service}", engine.context)
            shipped(on_a, f"axion-shared:{service}")
        print(f"shared cache: {modules} modules, {len(SERVICES)} services, two engines")
        print(f"cold pipeline on A             {cold:7.1f} s   (no C cache, bases present)")
        print(f"fresh runner B, warm registry  {fresh:7.1f} s   (0 compiled, 0 built)")
        print(f"  ratio B / A                  {ratio(fresh, cold)}   (goal <= 0.10x)")
        print(f"one-module edit on B           {b_edit:7.1f} s   (the edit checked in B's images)")
        print(f"its own edit on A              {a_edit:7.1f} s   (checked in A's images)")
        print(f"  ratio B / A                  {ratio(b_edit, a_edit)}   (goal <= 2x)")
    finally:
        stop_engine(engine)
        process.terminate()
        process.wait(10)
        os.environ.pop("AXION_CACHE", None)
