"""`bench.py --arm64` and `--multiarch`: rows timed on copies of the example app.

Each copy is a package of its own (`bench<kind><key>`, images `axion-bench<kind><key>:*`),
so nothing here builds, tags or removes an image of another checkout's package, and what
it made is removed at the end. A cold pipeline builds with `no_build_cache=1` (`--no-cache`
builds): BuildKit's cache is the engine's, shared by every checkout, and is never pruned.
"""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

from bench import (
    EM_AARCH64,
    ROOT,
    assert_images,
    compile_statuses,
    ratio,
    remove_package_images,
    timed_doit,
)

EXAMPLE = "homechoice"


def own_package(kind: str) -> str:
    """A package name no other checkout has: `bench<kind>` and a key of this run."""
    return f"bench{kind}{uuid.uuid4().hex[:6]}"


def example_checkout(root: Path, package: str) -> Path:
    """A checkout holding a copy of the example app as `package`, with its key pair."""
    from axion_build.build.keys import provision_keys

    shutil.copytree(ROOT / "examples" / EXAMPLE, root / "app",
                    ignore=shutil.ignore_patterns("__pycache__", "data.config", "*.documents"))
    config = (ROOT / "config" / f"{EXAMPLE}.yaml").read_text()
    config = config.replace(f"app_root: ../examples/{EXAMPLE}", "app_root: ../app").replace(
        f"  name: {EXAMPLE}\n", f"  name: {package}\n", 1)
    (root / "config").mkdir()
    (root / "config" / f"{package}.yaml").write_text(config)
    (root / "build").mkdir()
    provision_keys(root / "app" / "data.config", package)
    return root


def arm64_compile(work: Path, cross: bool) -> tuple[float, int]:
    """Seconds of a cold compile of the example for linux/arm64 in a checkout of its own
    (cross gcc or emulated builder), and how many aarch64 modules it made."""
    package = own_package("arm")
    root = example_checkout(work / ("arm64-cross" if cross else "arm64-emulated"), package)
    flags = {"AXION_COMPILE_CROSS": str(cross).lower(), "CCACHE_DISABLE": "1"}
    timed_doit(root, "validate", "base", "platform=linux/arm64", **flags)  # bases made
    seconds = timed_doit(root, "-n", "2", "-P", "process", f"compile:{package}",
                         "platform=linux/arm64", **flags)
    folder = root / "build" / package / "linux-arm64"
    toolchain = json.loads((folder / "compiled.json").read_text())["toolchain"]
    if toolchain != ("cross" if cross else "container"):
        raise SystemExit(f"linux/arm64 compiled with the {toolchain} toolchain")
    modules = list((folder / "compiled").rglob("*.so"))
    not_arm = [m for m in modules if m.read_bytes()[18:20] != EM_AARCH64]
    if not modules or not_arm:
        raise SystemExit(f"not aarch64 code: {not_arm or 'no modules'}")
    return seconds, len(modules)


def run_arm64(work: Path) -> None:
    """--arm64: the example's arm64 compile with the cross gcc vs under QEMU, side by side,
    then the --multiarch rows."""
    cross, modules = arm64_compile(work, cross=True)
    emulated, _ = arm64_compile(work, cross=False)
    print(f"example, linux/arm64, cold compile of {modules} modules (doit -n 2, no ccache)")
    print(f"cross gcc on the host          {cross:7.1f} s")
    print(f"builder image under QEMU       {emulated:7.1f} s")
    print(f"  speed-up cross vs emulated   {ratio(emulated, cross)}")
    run_multiarch(work)


def run_multiarch(work: Path) -> None:
    """--multiarch: the example's cold pipeline, multi-arch vs amd64 alone."""
    amd64 = cold_pipeline(work, "linux/amd64")
    both = cold_pipeline(work, "linux/amd64,linux/arm64")
    print("example, cold pipeline (skip_push=1, no ccache, no build cache, bases made)")
    print(f"linux/amd64                    {amd64:7.1f} s")
    print(f"linux/amd64,linux/arm64        {both:7.1f} s")
    print(f"  ratio multi-arch / amd64     {ratio(both, amd64)}   (goal <= 1.5x)")


def cold_pipeline(work: Path, platforms: str) -> float:
    """Seconds of the example's pipeline for `platforms` in a new checkout as a package of
    its own, with no C cache, no step from BuildKit's cache and no image of the package
    before (the bases are made beforehand); its images are removed afterwards."""
    package = own_package("cold")
    root = example_checkout(
        work / ("pipeline-" + platforms.replace("/", "-").replace(",", "+")), package)
    # cold means nothing from the registry cache either: no module, no image held there
    flags = {"CCACHE_DISABLE": "1", "AXION_CACHE_PULL": "0", "AXION_CACHE_PUSH": "0"}
    timed_doit(root, "validate", "base", f"platform={platforms}", **flags)
    try:
        seconds = timed_doit(root, "-n", "2", "-P", "process", f"pipeline:{package}",
                             f"platform={platforms}", "skip_push=1", "no_build_cache=1",
                             **flags)
        cold_checks(root, package, platforms)
    finally:
        remove_package_images(package)
    return seconds


def cold_checks(root: Path, package: str, platforms: str) -> None:
    """Stop unless the cold run compiled every platform itself and made its images."""
    for platform in platforms.split(","):
        compiled = root / "build" / package / platform.replace("/", "-") / "compiled"
        if not list(compiled.rglob("*.so")):
            raise SystemExit(f"no compiled modules for {platform}")
    taken = compile_statuses(root).count("registry-cache")
    if taken:
        raise SystemExit(f"a cold pipeline took {taken} modules from the registry cache")
    assert_images(package, ["latest", "web", *(["latest-arm64", "web-arm64"]
                                              if "arm64" in platforms else [])])
