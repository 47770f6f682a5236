"""The C step of a compile: `gcc` or a cross gcc on the host (through ccache), or `gcc`
in the builder image."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

from axion_build.build.cross import include_flags
from axion_build.build.toolchain import Toolchain
from axion_build.paths import cache_root

CCACHE_DIR = cache_root() / "ccache"


def gcc_command(include: str, cflags: tuple[str, ...], c_file: str, out_file: str,
                compiler: str = "gcc", includes: tuple[str, ...] = ()) -> list[str]:
    """The compile-and-link command line of one module (pure)."""
    return [compiler, "-shared", "-fPIC", *cflags, "-fno-strict-aliasing", "-fwrapv",
            f"-I{include}", *(f"-I{folder}" for folder in includes), "-o", out_file, c_file]


def host_command(toolchain: Toolchain, cflags: tuple[str, ...], c_file: str,
                 out_file: str) -> list[str]:
    """The command line of a compile on the host: native, or cross against the Python
    headers copied from the builder image (pure)."""
    if toolchain.cross is None:
        return gcc_command(toolchain.interpreter.include, cflags, c_file, out_file)
    include, *more = include_flags(toolchain.headers, toolchain.interpreter.include)
    return gcc_command(include, cflags, c_file, out_file, compiler=toolchain.cross.command,
                       includes=tuple(more))


def stop_signal(returncode: int) -> str:
    """'SIGINT' or 'SIGTERM' when a compiler's exit code says that signal stopped it (a
    negative code from the host, 128 + the signal through `docker run`), else '' (pure)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        if returncode in (-sig, 128 + sig):
            return sig.name
    return ""


def stop_if_signalled(returncode: int) -> None:
    """A compiler stopped by Ctrl-C (or SIGTERM) stops the run as the signal does, so the
    module is not recorded as failing to compile and no other module starts."""
    from axion_build.records.runstate import RunTerminated

    name = stop_signal(returncode)
    if name == "SIGINT":
        raise KeyboardInterrupt
    if name == "SIGTERM":
        raise RunTerminated("SIGTERM")


def host_environment() -> dict[str, str]:
    """Environment for host compiles: ccache in the machine-wide cache folder."""
    env = dict(os.environ)
    env.setdefault("CCACHE_DIR", str(CCACHE_DIR))
    # Build folders move (CI restores them elsewhere): hash relative paths.
    env.setdefault("CCACHE_NOHASHDIR", "1")
    return env


def c_compile(toolchain: Toolchain, c_file: Path, so_file: Path, cflags: tuple[str, ...]) -> str:
    """Compile `c_file` to `so_file` atomically; '' on success, else the compiler's output."""
    so_file.parent.mkdir(parents=True, exist_ok=True)
    partial = so_file.with_name(so_file.name + ".partial")
    if toolchain.kind in ("host", "cross"):
        command = host_command(toolchain, cflags, str(c_file), str(partial))
        if shutil.which("ccache"):
            command.insert(0, "ccache")
        done = subprocess.run(command, capture_output=True, text=True, env=host_environment())
        if done.returncode:
            partial.unlink(missing_ok=True)
            stop_if_signalled(done.returncode)
        output, ok = done.stdout + done.stderr, done.returncode == 0
    else:
        from axion_build.adapters import builder

        ok, output, code = builder.compile_in_image(
            toolchain.builder_image, toolchain.platform, c_file, partial,
            gcc_command(toolchain.interpreter.include, cflags, "/in/" + c_file.name,
                        "/out/" + partial.name))
        stop_if_signalled(code)
    if not ok:
        partial.unlink(missing_ok=True)
        return output.strip() or f"gcc failed on {c_file}"
    partial.replace(so_file)
    return ""
