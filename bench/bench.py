"""Benchmarks, measured side by side in one run; prints ratios (machines here are noisy).

    python bench/bench.py [--modules 200] [--images] [--memory-modules 1000] [--keep DIR]
    python bench/bench.py --scale [--modules 200] [--scale-modules 2000] [--scale-services 50]
                          [--keep DIR]
    python bench/bench.py --shared [--modules 200] [--keep DIR]
    python bench/bench.py --arm64 | --multiarch [--keep DIR]

1. cold compile of a generated app vs `cythonize -j2` of the same modules (goal ≤ 1.0×)
2. no-op rerun (median of 3) of the compile stage, and with --images of compile +
   images and of the whole pipeline (goal < 1 s)
3. one-module edit: its recompile vs the cold compile per module
4. with --images: one-module edit through the images vs a seed-style build that
   compiles everything inside one Dockerfile build (goal ≥ 20× faster)
5. doit's peak memory for a no-op run over --memory-modules modules (goal ≤ 150 MB)

--scale runs instead, in a package of its own (`scale`, images `axion-scale:*`):
6. no-op rerun (median of 3) of the whole pipeline over --scale-modules modules and
   --scale-services services, after one full run whose images are checked (goal ≤ 0.5 s)
7. `doit list` (median of 5) with no reachable Docker engine, in the --modules project
   and in the scale project (goal < 0.5 s)

--shared runs instead (bench/shared.py): two engines sharing only a registry
8. a fresh runner with a warm shared cache vs the cold pipeline (goal <= 0.1x), and a
   one-module edit on the fresh runner vs on the warm machine (goal <= 2x)

--arm64 runs instead (bench/example.py), on copies of the example, each a package of its
own (`bench<kind><key>`, images `axion-bench<kind><key>:*`, removed at the end):
9. cold compile of the example's modules for linux/arm64 with the host's cross gcc vs
   in the arm64 builder image under QEMU (`compile.cross: false`), every module checked
   to be aarch64 code
10. the example's cold pipeline for linux/amd64,linux/arm64 vs linux/amd64 alone
   (skip_push, no C cache, `--no-cache` builds: BuildKit's cache is never pruned;
   goal <= 1.5x); --multiarch runs only this row
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ["report", "webhook", "web", "workflow", "go", "scheduler", "mqtt", "import",
            "conversation", "ai", "monitor", "sms", "extra"]
MODULE = '''"""Generated module {index} of factory set {set_name}."""

from {previous} import value_{previous_index} as previous_value


class Obj{index}:
    """A small class with a loop and a dict."""

    def __init__(self, size):
        self.items = {{i: i * {index} for i in range(size)}}

    def total(self):
        return sum(v for v in self.items.values() if v % 3) + previous_value()


def value_{index}():
    return Obj{index}(10).total() % 997


def describe_{index}(name):
    parts = [name.upper(), str(value_{index}()), "{set_name}"]
    return "-".join(p for p in parts if p)
'''
SERVE = '''import os, sys, time
HERE = os.path.dirname(os.path.abspath(__file__))
for top in sorted(os.listdir(HERE)):
    if top.startswith("factory."):
        for folder, dirs, _ in os.walk(os.path.join(HERE, top)):
            sys.path.insert(0, folder)
print("{name} started", flush=True)
'''


TINY = "def value_{index}():\n    return {index}\n"
NO_ENGINE = "unix:///nonexistent/docker.sock"  # DOCKER_HOST of a machine with no engine
REGISTRY = "127.0.0.1:5000"  # the registry the generated configs push to (the default)
EM_AARCH64 = (183).to_bytes(2, "little")  # an ELF file's e_machine for arm64 code


def service_names(count: int) -> list[str]:
    """`count` distinct service names: SERVICES first, then numbered ones."""
    return SERVICES[:count] + [f"service{n}" for n in range(len(SERVICES), count)]


def generate_app(root: Path, modules: int, sets: int = 10, tiny: bool = False,
                 services: list[str] = SERVICES) -> None:
    """A generated app tree: `modules` modules across `sets` nested factory sets, and one
    entry script per service."""
    per_set = modules // sets
    for s in range(sets):
        set_name = f"factory.set{s}"
        for i in range(per_set):
            index = s * per_set + i
            folder = root / set_name / (f"nested.part{i % 3}" if i % 2 else "")
            folder.mkdir(parents=True, exist_ok=True)
            previous = index - 1 if i else index
            text = MODULE.format(index=index, set_name=set_name,
                                 previous=f"ObjGen{previous}", previous_index=previous)
            if tiny:
                text = TINY.format(index=index)
            elif not i:  # the first module of a set imports nothing
                text = text.replace(f"from ObjGen{index} import value_{index} as previous_value\n",
                                    "").replace(" + previous_value()", "")
            (folder / f"ObjGen{index}.py").write_text(text)
    for name in services:
        (root / f"Serve{name.title()}.py").write_text(SERVE.format(name=name))
    (root / "resource.config").mkdir(exist_ok=True)
    (root / "resource.config" / "requirements.txt").write_text("PyYAML==6.0.2\n")


def write_config(config_dir: Path, modules: int, sets: int = 10, package: str = "bench",
                 services: list[str] = SERVICES, routed: int = 5) -> None:
    """config/<package>.yaml for the generated app; the first `routed` services get a
    port of their own and a route."""
    lines = ["package:", f"  name: {package}", "  app_root: ../app", "build:",
             "  folder: ../build", "compile:", "  factory_sets:"]
    lines += [f"    - factory.set{s}" for s in range(sets)]
    lines += ["services:"]
    for number, name in enumerate(services):
        lines += [f"  {name}:", f"    script: Serve{name.title()}.py"]
        if number < routed:
            lines += [f"    port: {9100 + number}", f"    route: /{name}"]
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / f"{package}.yaml").write_text("\n".join(lines) + "\n")


def timed_doit(root: Path, *args: str, command: str = "run", **extra_env: str) -> float:
    """Seconds of one real doit `command` in the checkout `root` (fails loudly);
    `extra_env` is added to its environment."""
    env = dict(os.environ, AXION_CONFIG_DIR=str(root / "config"), **extra_env)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as a user runs it: with cached bytecode
    argv = [sys.executable, "-m", "doit", command, "-f", str(ROOT / "dodo.py"),
            "-d", str(root), "--backend", "sqlite3",
            "--db-file", str(root / "build" / ".doit.sqlite3"), *args]
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"doit {command} {' '.join(args)} failed:\n{done.stdout[-3000:]}"
                         f"\n{done.stderr[-3000:]}")
    return elapsed


class Bench:
    """A generated checkout and the commands timed against it."""

    def __init__(self, root: Path, modules: int, tiny: bool = False, package: str = "bench",
                 services: list[str] = SERVICES, routed: int = 5):
        self.root, self.modules, self.package = root, modules, package
        generate_app(root / "app", modules, tiny=tiny, services=services)
        write_config(root / "config", modules, package=package, services=services,
                     routed=routed)
        (root / "build").mkdir(exist_ok=True)
        from axion_build.build.keys import provision_keys

        provision_keys(root / "app" / "data.config", package)

    def doit(self, *args: str, command: str = "run", **extra_env: str) -> float:
        """Seconds of one real doit `command` (fails loudly); `extra_env` is added to its
        environment."""
        return timed_doit(self.root, *args, command=command, **extra_env)

    def noop(self, *args: str, runs: int = 3) -> float:
        """Median seconds of `runs` doit runs with nothing to do (start-up included)."""
        return sorted(self.doit(*args) for _ in range(runs))[runs // 2]

    def list_without_engine(self, runs: int = 5) -> float:
        """Median seconds of `runs` runs of `doit list` with no reachable Docker engine."""
        return sorted(self.doit(command="list", DOCKER_HOST=NO_ENGINE)
                      for _ in range(runs))[runs // 2]

    def touch_module(self, index: int = 7) -> tuple[str, int]:
        """Edit one module's code (a change of the compiled output, not only a comment);
        the module's name and the stamp its new function returns."""
        path = next((self.root / "app").rglob(f"ObjGen{index}.py"))
        stamp = time.time_ns()
        path.write_text(path.read_text() + f"\n\ndef edited_{stamp}():\n    return {stamp}\n")
        return f"ObjGen{index}", stamp


# imports one module by bare name with every folder of compiled modules on sys.path, as
# the services do, checks that it loaded compiled, and calls the function an edit added
PROBE = ("import pathlib, sys; sys.path[:0] = sorted({{str(p.parent) for p in "
         "pathlib.Path({root!r}).rglob('*.so')}}); import {module}; "
         "assert {module}.__file__.endswith('.so'), {module}.__file__; "
         "print({module}.edited_{stamp}())")


def assert_shipped(edit: tuple[str, int], *, image: str = "", compiled: Path | None = None,
                   root: str = "/axion") -> None:
    """Fail the benchmark unless the edited code is what the image (or compiled tree) runs."""
    module, stamp = edit
    if image:
        command = ["docker", "run", "--rm", "--entrypoint", "python3", image, "-c"]
    else:
        command, root = [sys.executable, "-c"], str(compiled)
    done = subprocess.run([*command, PROBE.format(root=root, module=module, stamp=stamp)],
                          capture_output=True, text=True)
    if done.stdout.strip() != str(stamp):
        raise SystemExit(f"the edit of {module} did not reach {image or compiled}:\n"
                         f"{done.stdout}{done.stderr}")


def assert_images(package: str, targets: list[str]) -> None:
    """Fail the benchmark unless the engine holds `axion-<package>:<target>` for each target."""
    tags = [f"axion-{package}:{target}" for target in targets]
    done = subprocess.run(["docker", "image", "inspect", "--format", "{{.Id}}", *tags],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the build did not leave its images:\n{done.stderr[-3000:]}")


def registry_answers(address: str = REGISTRY) -> bool:
    """Whether a registry answers on `address`, so that a pipeline can push to it."""
    try:
        with urllib.request.urlopen(f"http://{address}/v2/", timeout=3):
            return True
    except urllib.error.HTTPError:
        return True  # it answers, if only to ask for credentials
    except OSError:
        return False


def cythonize_baseline(app: Path, workdir: Path) -> float:
    """`cythonize -j2 -i` of the same modules, in a copy of the app."""
    copy = workdir / "cythonize"
    shutil.copytree(app, copy)
    sources = [str(p) for p in copy.rglob("ObjGen*.py")]
    env = dict(os.environ, CCACHE_DISABLE="1")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "Cython.Build.Cythonize", "-3", "-j2", "-i", "-q",
                    *sources], check=True, capture_output=True, env=env)
    return time.perf_counter() - start


MEASURE = """
import resource, runpy, sys
sys.argv = ["doit"] + sys.argv[1:]
try:
    runpy.run_module("doit", run_name="__main__")
except SystemExit:
    pass
print("PEAK_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
"""


def peak_memory_mb(root: Path, modules: int) -> float:
    """Peak RSS of doit's process for a no-op compile run over `modules` (tiny) modules."""
    bench = Bench(root, modules, tiny=True)
    bench.doit("-n", "2", "-P", "process", "compile:bench")
    env = dict(os.environ, AXION_CONFIG_DIR=str(root / "config"))
    command = [sys.executable, "-c", MEASURE, "run", "-f", str(ROOT / "dodo.py"),
               "-d", str(root), "--backend", "sqlite3",
               "--db-file", str(root / "build" / ".doit.sqlite3"), "compile:bench"]
    done = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
    peak = [line for line in done.stderr.splitlines() if line.startswith("PEAK_KB")]
    return int(peak[-1].split()[1]) / 1024


def seed_style_build(bench: Bench, workdir: Path) -> float:
    """Seed baseline: one Dockerfile build that compiles every module inside the image."""
    context = workdir / "seed-context"
    shutil.rmtree(context, ignore_errors=True)
    shutil.copytree(bench.root / "app", context / "app",
                    ignore=shutil.ignore_patterns("data.config"))
    # the seed installed Cython in the image and compiled there: its wheel, for the image
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:",
                    "--python-version", "3.11", "--platform", "manylinux2014_x86_64",
                    "--platform", "manylinux_2_17_x86_64", "-d", str(context / "wheels"),
                    "Cython"], check=True, capture_output=True)
    (context / "Dockerfile").write_text(
        "FROM axion-base/bookworm-builder:latest\n"
        "COPY wheels/ /wheels/\n"
        "RUN python3 -m venv /opt/venv && /opt/venv/bin/pip install -q --no-index "
        "--find-links /wheels Cython\n"
        "COPY app/ /axion/\n"
        "RUN cd /axion && find . -name 'ObjGen*.py' | xargs /opt/venv/bin/cythonize -3 -j2 -i -q"
        " && find . -name 'ObjGen*.py' -delete\n")
    start = time.perf_counter()
    subprocess.run(["docker", "build", "-q", "-t", "axion-bench-seed:latest", str(context)],
                   check=True, capture_output=True)
    return time.perf_counter() - start


def scale_pipeline(root: Path, modules: int, services: int) -> tuple[Bench, float, float, bool]:
    """The scale package after one full pipeline run whose images were checked (through
    push when the registry answers); that run's seconds, the no-op rerun's median and
    whether it pushed."""
    names = service_names(services)
    bench = Bench(root, modules, tiny=True, package="scale", services=names, routed=services)
    edit = bench.touch_module()
    pushed = registry_answers()
    pipeline = ["pipeline:scale", *([] if pushed else ["skip_push=1"])]
    first = bench.doit("-n", "2", "-P", "process", *pipeline)
    assert_images("scale", ["latest", *names])
    assert_shipped(edit, image=f"axion-scale:{names[-1]}")
    return bench, first, bench.noop(*pipeline), pushed


def run_scale(options: argparse.Namespace, work: Path) -> None:
    """--scale: the no-op pipeline of the scale package, and `doit list` with no engine in
    the --modules project (its compile stage built) and in the scale package."""
    bench = Bench(work / "checkout", options.modules)
    bench.doit("-n", "2", "-P", "process", "compile:bench")
    list_small = bench.list_without_engine()
    scale, first, noop, pushed = scale_pipeline(work / "scale", options.scale_modules,
                                                options.scale_services)
    list_scale = scale.list_without_engine()
    through = "through push" if pushed else "skip_push=1: no registry answers"
    print(f"scale: {options.scale_modules} modules, {options.scale_services} services")
    print(f"first pipeline, doit -n 2      {first:7.1f} s   ({through}, images checked)")
    print(f"no-op pipeline (all stages)    {noop:7.2f} s   (goal <= 0.5 s)")
    for label, seconds in ((f"{options.modules} modules", list_small), ("scale", list_scale)):
        print(f"{'doit list, ' + label:31}{seconds:7.2f} s   (no engine, goal < 0.5 s)")


def needs_cross_compiler() -> None:
    """Stop unless the host has the arm64 cross gcc (the arm64 rows time it)."""
    from axion_build.build.cross import find_cross_compiler

    if find_cross_compiler("linux/arm64") is None:
        raise SystemExit("no aarch64-linux-gnu-gcc with its libc here: "
                         "sudo ./run provision tests installs them")


def statuses(root: Path, query: str) -> list[str]:
    """One column of the last recorded run's rows (`query` selects it by BuildGuid = ?)."""
    with sqlite3.connect(root / "build" / "records.sqlite3") as db:
        guid = db.execute("SELECT BuildGuid FROM log_build_run ORDER BY StartTime DESC "
                          "LIMIT 1").fetchone()[0]
        return [row[0] for row in db.execute(query, (guid,))]


def compile_statuses(root: Path) -> list[str]:
    """The compile status of each module in the last recorded run of `root`."""
    return statuses(root, "SELECT CompileStatus FROM log_build_compile WHERE BuildGuid = ?")


def remove_package_images(package: str) -> None:
    """Remove every tag of `axion-<package>` (a package of the bench's own: one with the
    same inputs would be up to date)."""
    tags = subprocess.run(["docker", "images", "--format", "{{.Repository}}:{{.Tag}}",
                           f"axion-{package}"], check=True, capture_output=True, text=True)
    if tags.stdout.split():
        subprocess.run(["docker", "image", "rm", "-f", *tags.stdout.split()], check=True,
                       capture_output=True)


@contextlib.contextmanager
def work_folder(keep: Path | None) -> Iterator[Path]:
    """The folder the projects are generated in: `keep` (created, never removed), or a
    temporary one."""
    if keep:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep.resolve()
        return
    with tempfile.TemporaryDirectory(prefix="axion-bench-") as tmp:
        yield Path(tmp)


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", type=int, default=200)
    parser.add_argument("--images", action="store_true", help="also time image rebuilds")
    parser.add_argument("--memory-modules", type=int, default=1000)
    parser.add_argument("--scale", action="store_true",
                        help="only the scale rows: no-op pipeline and doit list at scale")
    parser.add_argument("--scale-modules", type=int, default=2000)
    parser.add_argument("--scale-services", type=int, default=50)
    parser.add_argument("--shared", action="store_true",
                        help="only the shared-cache rows: two engines sharing a registry")
    parser.add_argument("--arm64", action="store_true",
                        help="only the arm64 rows: the example's compile, cross vs emulated")
    parser.add_argument("--multiarch", action="store_true",
                        help="only the cold pipeline rows: multi-arch vs amd64")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="generate the projects in DIR and keep them (e.g. to profile)")
    options = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    with work_folder(options.keep) as work:
        if options.scale:
            run_scale(options, work)
            return
        if options.shared:
            from shared import run_shared

            run_shared(options.modules, work)
            return
        if options.arm64 or options.multiarch:
            from example import run_arm64, run_multiarch

            needs_cross_compiler()
            (run_multiarch if options.multiarch else run_arm64)(work)
            return
        bench = Bench(work / "checkout", options.modules)
        os.environ["CCACHE_DISABLE"] = "1"  # a cold compile is cold: no C cache
        cold = bench.doit("-n", "2", "-P", "process", "compile:bench")
        baseline = cythonize_baseline(bench.root / "app", work)
        noop = bench.noop("compile:bench")
        edit = bench.touch_module()
        one = bench.doit("compile:bench")
        assert_shipped(edit, compiled=bench.root / "build" / "bench" / "linux-amd64" / "compiled")
        print(f"modules: {options.modules}")
        print(f"cold compile, doit -n 2        {cold:7.1f} s")
        print(f"cythonize -j2, same modules    {baseline:7.1f} s")
        print(f"  ratio axion / cythonize      {ratio(cold, baseline)}   (goal <= 1.00x)")
        print(f"no-op rerun                    {noop:7.2f} s   (goal < 1 s)")
        per_module = cold / options.modules
        print(f"one-module edit                {one:7.2f} s   = {ratio(one, per_module)}"
              " of the cold cost per module, incl. doit start-up")
        if options.images:
            os.environ.pop("CCACHE_DISABLE")
            bench.doit("image:bench")
            noop_all = bench.noop("compile:bench", "image:bench")
            bench.doit("pipeline:bench")
            noop_pipeline = bench.noop("pipeline:bench")
            edit = bench.touch_module(11)
            edit_images = bench.doit("compile:bench", "image:bench")
            for service in ("latest", *SERVICES):
                assert_shipped(edit, image=f"axion-bench:{service}")
            seed = seed_style_build(bench, work)
            edit = bench.touch_module(12)
            seed_edit = seed_style_build(bench, work)
            assert_shipped(edit, image="axion-bench-seed:latest")
            print(f"no-op compile + images         {noop_all:7.2f} s   (goal <= 1 s)")
            print(f"no-op pipeline (all stages)    {noop_pipeline:7.2f} s   (goal <= 1 s)")
            print(f"one-module edit through images {edit_images:7.1f} s   (the edit checked in"
                  f" all {len(SERVICES) + 1} images)")
            print(f"seed-style build after an edit {seed_edit:7.1f} s   (cold {seed:.1f} s)")
            print(f"  speed-up vs seed-style       {ratio(seed_edit, edit_images)}   (goal >= 20x)")
        memory = peak_memory_mb(work / "memory", options.memory_modules)
        print(f"doit peak memory, {options.memory_modules} modules, no-op  {memory:7.1f} MB"
              "   (goal <= 150 MB)")


if __name__ == "__main__":
    main()
