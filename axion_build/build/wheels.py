"""The wheelhouse: every requirement as a binary wheel for the image's interpreter.

Wheels are fetched once into a machine-wide cache (the only step that may reach a
package index) and copied from there, offline, into the image's build context, so
the image build itself is hermetic.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from axion_build.build.toolchain import Interpreter
from axion_build.paths import cache_root

WHEEL_CACHE = cache_root() / "wheels"
# the installer used inside the builder stage
BUILDER_TOOLS = ("uv",)


def arm_excluded(requirements: str, excluded: set[str]) -> str:
    """Requirements text without the excluded packages (pure)."""
    kept = []
    for line in requirements.splitlines():
        name = requirement_name(line)
        if name and name in excluded:
            kept.append(f"# excluded on this platform: {line.strip()}")
        else:
            kept.append(line)
    return "\n".join(kept) + "\n"


def requirement_name(line: str) -> str:
    """Normalised project name of a requirements line, '' for comments and options."""
    text = line.split("#", 1)[0].strip()
    if not text or text.startswith("-"):
        return ""
    for stop in "<>=!~;[ @":
        text = text.split(stop, 1)[0]
    return text.strip().lower().replace("_", "-")


def read_excludes(path: Path) -> set[str]:
    """Package names, one a line, of the arm exclude list ('' when absent)."""
    if not path.is_file():
        return set()
    return {requirement_name(line) for line in path.read_text().splitlines()} - {""}


def pip_platform_tags(interpreter: Interpreter) -> list[str]:
    """pip `--platform` values accepted by a glibc interpreter on its machine."""
    machine = interpreter.machine
    major, minor = (int(p) for p in (interpreter.libc or "2.17").split(".")[:2])
    tags = [f"manylinux_{major}_{m}_{machine}" for m in range(minor, 16, -1)]
    return tags + [f"manylinux2014_{machine}", "linux_" + machine, "any"]


def uv_platform(interpreter: Interpreter) -> str:
    """uv's `--python-platform` for an interpreter's machine and glibc (pure)."""
    major, minor = (interpreter.libc or "2.17").split(".")[:2]
    return f"{interpreter.machine}-manylinux_{major}_{minor}"


def download_command(interpreter: Interpreter, requirement_files: list[Path], dest: Path,
                     offline_from: Path | None) -> list[str]:
    """The `pip download` command line for binary wheels of one interpreter (pure)."""
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
               "--only-binary=:all:", "--python-version", interpreter.python,
               "--implementation", "cp", "-d", str(dest)]
    for tag in pip_platform_tags(interpreter):
        command += ["--platform", tag]
    if offline_from is not None:
        command += ["--no-index", "--find-links", str(offline_from)]
    for path in requirement_files:
        command += ["-r", str(path)]
    return command + list(BUILDER_TOOLS)


def fill_wheelhouse(interpreter: Interpreter, requirement_files: list[Path], dest: Path) -> None:
    """Copy the wheels for `requirement_files` into `dest`, fetching into the cache if needed."""
    cache = WHEEL_CACHE / f"cp{interpreter.python.replace('.', '')}-{interpreter.machine}"
    cache.mkdir(parents=True, exist_ok=True)
    offline = subprocess.run(download_command(interpreter, requirement_files, cache, cache),
                             capture_output=True, text=True)
    if offline.returncode != 0:
        online = subprocess.run(download_command(interpreter, requirement_files, cache, None),
                                capture_output=True, text=True)
        if online.returncode != 0:
            raise RuntimeError(
                "cannot get binary wheels for "
                f"{', '.join(str(p) for p in requirement_files)} (Python {interpreter.python}, "
                f"{interpreter.machine}); the cache {cache} lacks them and the index failed:\n"
                + online.stderr.strip()[-2000:])
    dest.mkdir(parents=True, exist_ok=True)
    copy = subprocess.run(download_command(interpreter, requirement_files, dest, cache),
                          capture_output=True, text=True)
    if copy.returncode != 0:
        raise RuntimeError(f"copying wheels into {dest} failed:\n{copy.stderr.strip()[-2000:]}")
