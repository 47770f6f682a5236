"""Cross compilers for foreign platforms: Debian's `<triplet>-gcc`, run on the host.

With a platform's cross gcc and libc installed (for arm64: `gcc-aarch64-linux-gnu` and
`libc6-dev-arm64-cross`), its C step runs natively, through ccache; only what must run
that platform's code (the interpreter probe, image builds, import checks) still needs
QEMU. The Python headers are the builder image's own, copied out of it without running it.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from axion_build.paths import cache_root

# the GNU triplet of each platform's cross gcc (also Debian's multiarch folder name)
TRIPLETS = {"linux/arm64": "aarch64-linux-gnu", "linux/amd64": "x86_64-linux-gnu"}
# what `platform.machine()` says in that platform's interpreter
MACHINES = {"aarch64-linux-gnu": "aarch64", "x86_64-linux-gnu": "x86_64"}
# the Debian packages of each cross compiler: gcc, and the libc it links against (only a
# recommendation of the gcc package, so not installed with --no-install-recommends)
PACKAGES = {"aarch64-linux-gnu": ("gcc-aarch64-linux-gnu", "libc6-dev-arm64-cross"),
            "x86_64-linux-gnu": ("gcc-x86-64-linux-gnu", "libc6-dev-amd64-cross")}
# preprocessed by the compiler, its last line is the glibc version of its libc: "2 36"
LIBC_SOURCE = "#include <features.h>\n__GLIBC__ __GLIBC_MINOR__\n"
HEADERS_CACHE = cache_root() / "headers"


@dataclass(frozen=True)
class CrossCompiler:
    """A cross gcc on the host: its command, its target, its version and its libc's."""

    command: str
    target: str
    version: str
    libc: str

    @property
    def machine(self) -> str:
        """The machine the compiled code runs on, as its interpreter names it."""
        return MACHINES.get(self.target, self.target.split("-")[0])


def cross_command(platform: str) -> str:
    """The cross gcc's command of a platform, '' for a platform without one (pure)."""
    triplet = TRIPLETS.get(platform)
    return f"{triplet}-gcc" if triplet else ""


@functools.cache
def find_cross_compiler(platform: str, search_path: str | None = None) -> CrossCompiler | None:
    """The platform's cross gcc when it is on PATH (or `search_path`) with its libc."""
    command = cross_command(platform)
    if not command or not shutil.which(command, path=search_path):
        return None
    env = dict(os.environ, PATH=search_path) if search_path else None
    answers = [subprocess.run([command, *args], input=LIBC_SOURCE, capture_output=True,
                              text=True, env=env)
               for args in (["-dumpmachine"], ["-dumpfullversion"], ["-E", "-P", "-xc", "-"])]
    # without its libc's headers (libc6-dev-<arch>-cross) features.h is missing
    if any(answer.returncode != 0 for answer in answers):
        return None
    target, version, libc = (answer.stdout.split() for answer in answers)
    return CrossCompiler(command=command, target=target[0], version=version[0],
                         libc=".".join(libc[-2:]))


def missing_compiler_warning(platform: str) -> str:
    """What a foreign platform's compile costs without its cross compiler, and the fix."""
    triplet = TRIPLETS.get(platform)
    if not triplet:
        return ""
    return (f"{platform} compiles in its builder image under QEMU (several times slower): "
            f"no {triplet}-gcc cross compiler with its libc here; install it with "
            f"'sudo apt-get install -y --no-install-recommends {' '.join(PACKAGES[triplet])}'")


def header_paths(include: str, target: str) -> tuple[str, str]:
    """The interpreter's include folder and Debian's multiarch one, which holds the real
    `pyconfig.h` its wrapper includes (pure)."""
    return include, f"/usr/include/{target}/{Path(include).name}"


def include_flags(headers: str, include: str) -> tuple[str, ...]:
    """The `-I` folders of a cross compile against headers copied to `headers` (pure)."""
    return (f"{headers}{include}", f"{headers}/usr/include")


def builder_headers(builder_image: str, builder_id: str, platform: str, include: str,
                    target: str) -> Path | None:
    """The builder image's Python headers, copied once per image id into the machine's
    cache; None when the image has no `include` folder (no python3-dev)."""
    from axion_build.adapters import builder

    folder = HEADERS_CACHE / builder_id.removeprefix("sha256:")[:24]
    if folder.is_dir():
        return folder
    partial = folder.with_name(f"{folder.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    copied = builder.copy_from_image(builder_image, platform, header_paths(include, target),
                                    partial)
    if include not in copied:
        shutil.rmtree(partial, ignore_errors=True)
        return None
    try:
        partial.rename(folder)
    except OSError:  # another process copied them first
        shutil.rmtree(partial, ignore_errors=True)
    return folder
