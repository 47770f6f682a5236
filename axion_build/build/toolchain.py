"""Which toolchain compiles a platform's modules: the host's gcc, a cross gcc on the
host, or the builder image's gcc.

A compiled module must import in the image's own interpreter, so the host compiles
only when it matches that interpreter (Python minor version, extension suffix,
architecture, glibc no newer than the image's). A foreign platform compiles on the host
with its cross gcc when one is installed (against the builder image's Python headers,
see cross.py); otherwise the C step runs inside the builder image (under QEMU).
"""

from __future__ import annotations

import functools
import hashlib
import json
import platform as host_platform
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass, replace
from pathlib import Path

import Cython

from axion_build.build.cross import (
    CrossCompiler,
    builder_headers,
    find_cross_compiler,
    missing_compiler_warning,
)
from axion_build.config.model import native_platform

PROBE = (
    "import json,sys,sysconfig,platform;"
    "print(json.dumps({'python': '%d.%d' % sys.version_info[:2],"
    "'version': platform.python_version(),"
    "'ext_suffix': sysconfig.get_config_var('EXT_SUFFIX'),"
    "'include': sysconfig.get_paths()['include'],"
    "'machine': platform.machine(),"
    "'libc': platform.libc_ver()[1]}))"
)


@dataclass(frozen=True)
class Interpreter:
    """What a compiled module must match: an interpreter's ABI facts."""

    python: str
    version: str
    ext_suffix: str
    include: str
    machine: str
    libc: str


@dataclass(frozen=True)
class Toolchain:
    """The C toolchain of one platform: on the host, cross on the host, or inside a
    builder image."""

    platform: str
    kind: str  # "host", "cross" or "container"
    interpreter: Interpreter
    builder_image: str = ""
    builder_id: str = ""  # container: the compiling image; cross: its headers' source
    cross: CrossCompiler | None = None
    headers: str = ""  # cross: the folder holding the builder image's Python headers
    warning: str = ""  # why this platform compiles slower than it could, and the fix

    @property
    def ext_suffix(self) -> str:
        """File suffix of compiled modules, e.g. `.cpython-311-x86_64-linux-gnu.so`."""
        return self.interpreter.ext_suffix

    def fingerprint(self, settings: tuple) -> str:
        """Hash of everything that changes the compiled output."""
        facts = [Cython.__version__, self.kind, self.platform, self.interpreter.version,
                 self.interpreter.ext_suffix, self.builder_id, settings]
        if self.kind == "host":
            facts.append(host_compiler_version())
        if self.cross:
            facts.append([self.cross.target, self.cross.version, self.cross.libc])
        return hashlib.sha256(json.dumps(facts, default=str).encode()).hexdigest()[:16]


def host_interpreter() -> Interpreter:
    """The ABI facts of the Python running this build."""
    return Interpreter(
        python=f"{sys.version_info[0]}.{sys.version_info[1]}",
        version=host_platform.python_version(),
        ext_suffix=sysconfig.get_config_var("EXT_SUFFIX"),
        include=sysconfig.get_paths()["include"],
        machine=host_platform.machine(),
        libc=host_platform.libc_ver()[1],
    )


@functools.cache
def host_compiler_version() -> str:
    """`gcc` version and target, part of the host toolchain's fingerprint."""
    out = subprocess.run(["gcc", "-dumpfullversion", "-dumpmachine"], capture_output=True,
                         text=True, check=True)
    return " ".join(out.stdout.split())


def host_compile_problem(host: Interpreter) -> str:
    """Why the host cannot compile modules for its own interpreter ('' when it can): gcc
    and the interpreter's `Python.h` must both be there."""
    if shutil.which("gcc") is None:
        return "the host has no gcc (apt-get install gcc libc6-dev)"
    if not (Path(host.include) / "Python.h").is_file():
        return (f"the host's Python has no headers ({host.include}/Python.h is missing: "
                "apt-get install python3-dev)")
    return ""


def version_tuple(text: str) -> tuple[int, ...]:
    """'2.36' → (2, 36); empty or odd text → ()."""
    try:
        return tuple(int(p) for p in text.split("."))
    except ValueError:
        return ()


def host_matches(host: Interpreter, image: Interpreter, platform: str) -> bool:
    """Whether modules built on the host import in the image's interpreter."""
    return (platform == native_platform()
            and host.python == image.python
            and host.ext_suffix == image.ext_suffix
            and host.machine == image.machine
            and bool(version_tuple(host.libc))
            and version_tuple(host.libc) <= version_tuple(image.libc))


def cross_matches(compiler: CrossCompiler, image: Interpreter) -> bool:
    """Whether modules of the cross compiler import in the image's interpreter: its
    machine, and a libc no newer than the image's."""
    return (compiler.machine == image.machine
            and bool(version_tuple(compiler.libc))
            and version_tuple(compiler.libc) <= version_tuple(image.libc))


def toolchain_kind(host: Interpreter, image: Interpreter, platform: str,
                   compiler: CrossCompiler | None) -> str:
    """'host', 'cross' or 'container': where a platform's modules compile (pure)."""
    if host_matches(host, image, platform):
        return "host"
    if platform != native_platform() and compiler and cross_matches(compiler, image):
        return "cross"
    return "container"


def probe_image(image: str, platform: str, cache_dir: Path) -> Interpreter:
    """The runtime image's interpreter facts, cached by image id."""
    from axion_build.adapters import docker

    image_id = docker.image_id(image)
    cache = cache_dir / f"interpreter-{image_id.replace(':', '-')[:32]}.json"
    if cache.exists():
        return Interpreter(**json.loads(cache.read_text()))
    facts = json.loads(docker.run_output(image, ["python3", "-c", PROBE], platform=platform))
    cache_dir.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(facts))
    return Interpreter(**facts)


def select_toolchain(platform: str, runtime_image: str, builder_image: str,
                     cache_dir: Path, cross: bool = True) -> Toolchain:
    """The host toolchain when it matches the runtime image; for a foreign platform its
    cross compiler when installed (and `cross`); else the builder image's."""
    from axion_build.adapters import docker

    image = probe_image(runtime_image, platform, cache_dir)
    foreign = platform != native_platform()
    compiler = find_cross_compiler(platform) if cross and foreign else None
    kind = toolchain_kind(host_interpreter(), image, platform, compiler)
    unready = host_compile_problem(host_interpreter()) if kind == "host" else ""
    if kind == "host" and not unready:
        return Toolchain(platform=platform, kind="host", interpreter=host_interpreter())
    container = Toolchain(platform=platform, kind="container", interpreter=image,
                          builder_image=builder_image, builder_id=docker.image_id(builder_image))
    if unready:  # the builder image's gcc compiles, under no emulation: slower, still right
        return replace(container, warning=f"{unready}; compiling in {builder_image} instead")
    if kind == "cross" and compiler:
        headers = builder_headers(builder_image, container.builder_id, platform,
                                  image.include, compiler.target)
        if headers:
            return replace(container, kind="cross", cross=compiler, headers=str(headers))
    if cross and foreign and compiler is None:
        return replace(container, warning=missing_compiler_warning(platform))
    return container
