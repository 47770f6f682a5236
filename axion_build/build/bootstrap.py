"""Local Debian base images, for sites (and CI) where no registry can be pulled from.

The runtime base is a minimal bookworm root filesystem made by debootstrap and
imported into the engine; the builder base adds the C toolchain on top of it.
Root filesystems are cached as tarballs, so a rebuild after `docker rmi` costs
only the import. Each image carries a label with the hash of its recipe: it is
up to date when it exists with that label.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from doit.exceptions import TaskFailed

from axion_build.adapters import docker
from axion_build.build.sharedbases import BaseShare, give_base, take_base
from axion_build.config.model import ImageSpec, native_platform
from axion_build.paths import TEMPLATES, cache_root

VARIANT = "minbase"
RUNTIME_PACKAGES = ("python3", "python3-venv", "ca-certificates")
RUNTIME_ENV = "LANG=C.UTF-8"
RECIPE_LABEL = "org.axion.base-recipe"
RUNTIME_DOCKERFILE = TEMPLATES / "dockerfiles" / "base-runtime.dockerfile"
BUILDER_DOCKERFILE = TEMPLATES / "dockerfiles" / "base-builder.dockerfile"
# binfmt_misc entries that run a foreign architecture's binaries
EMULATORS = {"arm64": "qemu-aarch64", "amd64": "qemu-x86_64"}
LOG_TAIL_LINES = 30


class BootstrapError(Exception):
    """A base image could not be made; the message says why (with the log's tail)."""


@dataclass(frozen=True)
class BaseImage:
    """One bootstrapped base image: its kind, platform, tag and recipe hash."""

    kind: str  # "runtime" or "builder"
    platform: str
    tag: str
    recipe: str
    mirror: str
    runtime_tag: str  # the runtime base a builder stands on; a runtime's own tag
    suite: str = "bookworm"

    @property
    def arch(self) -> str:
        """Debian's name of the architecture (`amd64`, `arm64`)."""
        return self.platform.split("/")[-1]

    @property
    def name(self) -> str:
        """The doit sub-task name: `runtime-amd64` for the default tags, else with the tag
        (`runtime-amd64:axion-base/trixie-runtime:latest`)."""
        default = ImageSpec().runtime_for(self.platform) if self.kind == "runtime" \
            else ImageSpec().builder_for(self.platform)
        name = f"{self.kind}-{self.arch}"
        return name if self.tag == default else f"{name}:{self.tag}"

    @property
    def foreign(self) -> bool:
        """Whether the image's architecture differs from the host's (emulated)."""
        return self.platform != native_platform()


def cache_dir() -> Path:
    """Where root filesystem tarballs and debootstrap logs are kept."""
    return cache_root() / "rootfs"


def runtime_recipe(arch: str, suite: str = "bookworm") -> dict:
    """Everything the runtime root filesystem is made of (the mirror is not: same content)."""
    return {"suite": suite, "variant": VARIANT, "packages": list(RUNTIME_PACKAGES),
            "arch": arch, "env": RUNTIME_ENV}


def recipe_hash(recipe: Mapping) -> str:
    """A stable hash of a recipe mapping."""
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()


def base_images(images_cfg: ImageSpec, platform: str, builder_dockerfile: str) -> tuple[
        BaseImage, BaseImage]:
    """The runtime and builder base images of one platform (pure)."""
    arch = platform.split("/")[-1]
    runtime_hash = recipe_hash(runtime_recipe(arch, images_cfg.suite))
    runtime_tag = images_cfg.runtime_for(platform)
    runtime = BaseImage("runtime", platform, runtime_tag, runtime_hash,
                        images_cfg.debian_mirror, runtime_tag, images_cfg.suite)
    builder_hash = recipe_hash({"runtime": runtime_hash, "dockerfile": builder_dockerfile})
    builder = BaseImage("builder", platform, images_cfg.builder_for(platform), builder_hash,
                        images_cfg.debian_mirror, runtime_tag, images_cfg.suite)
    return runtime, builder


def is_current(tag: str, recipe: str) -> bool:
    """Whether image `tag` exists and was made from `recipe`."""
    return docker.image_labels(tag).get(RECIPE_LABEL) == recipe


def debootstrap_command(target: Path, arch: str, mirror: str, *, foreign: bool,
                        suite: str = "bookworm") -> list[str]:
    """The debootstrap command line of a runtime root filesystem (pure)."""
    return ["debootstrap", f"--arch={arch}", *(["--foreign"] if foreign else []),
            f"--variant={VARIANT}", f"--include={','.join(RUNTIME_PACKAGES)}",
            suite, str(target), mirror]


def second_stage_command(target: Path) -> list[str]:
    """The command finishing a `--foreign` debootstrap under emulation (pure)."""
    return ["chroot", str(target), "/debootstrap/debootstrap", "--second-stage"]


def rootfs_tarball(image: BaseImage) -> Path:
    """The cached root filesystem tarball of a runtime image."""
    return cache_dir() / f"{image.suite}-{image.arch}-{image.recipe[:16]}.tar"


def emulation_available(arch: str) -> bool:
    """Whether binfmt_misc runs `arch` binaries through QEMU here."""
    entry = Path("/proc/sys/fs/binfmt_misc") / EMULATORS.get(arch, f"qemu-{arch}")
    try:
        return entry.read_text().startswith("enabled")
    except OSError:
        return False


def build_base_image(image: BaseImage, stands_on: BaseImage | None,
                     share: BaseShare | None = None) -> TaskFailed | None:
    """doit action: bring `image` up to date, after the runtime image it stands on."""
    try:
        for needed in filter(None, (stands_on, image)):
            ensure_image(needed, share)
    except (BootstrapError, docker.DockerError) as exc:
        return TaskFailed(str(exc))
    return None


def ensure_image(image: BaseImage, share: BaseShare | None = None) -> None:
    """Make `image` unless it is current or the registry has it; one maker per image at
    a time on this host."""
    with locked(cache_dir() / f"{image.kind}-{image.suite}-{image.arch}.lock"):
        if is_current(image.tag, image.recipe):
            give_base(image, share)  # when the registry lacks it
            return
        if take_base(image, share, RECIPE_LABEL):
            return
        started = time.monotonic()
        if image.kind == "runtime":
            make_runtime_image(image)
        else:
            make_builder_image(image)
        print(f"bootstrap: {image.tag} ready in {time.monotonic() - started:.1f} s")
        give_base(image, share)


def make_runtime_image(image: BaseImage) -> None:
    """Import the (cached) root filesystem as the runtime image."""
    tarball = ensure_rootfs(image)
    if not image.foreign:
        docker.import_rootfs(tarball, image.tag,
                             [f"ENV {RUNTIME_ENV}", f"LABEL {RECIPE_LABEL}={image.recipe}"])
        return
    # `docker import --platform` is ignored: a scratch build records the architecture
    context = cache_dir() / f"context-{image.arch}"
    shutil.rmtree(context, ignore_errors=True)
    context.mkdir(parents=True)
    try:
        os.link(tarball, context / "rootfs.tar")
        docker.build_image(context, RUNTIME_DOCKERFILE, target=None, tags=[image.tag],
                           build_args={}, labels={RECIPE_LABEL: image.recipe},
                           platform=image.platform)
    finally:
        shutil.rmtree(context, ignore_errors=True)


def make_builder_image(image: BaseImage) -> None:
    """Build the builder image on top of its runtime image."""
    docker.build_image(BUILDER_DOCKERFILE.parent, BUILDER_DOCKERFILE, target=None,
                       tags=[image.tag], build_args={"BASE_RUNTIME_IMAGE": image.runtime_tag},
                       labels={RECIPE_LABEL: image.recipe},
                       platform=image.platform if image.foreign else None)


def ensure_rootfs(image: BaseImage) -> Path:
    """The runtime root filesystem tarball, debootstrapped when not cached."""
    tarball = rootfs_tarball(image)
    if tarball.exists():
        return tarball
    if image.foreign and not emulation_available(image.arch):
        raise BootstrapError(f"cannot bootstrap {image.arch}: QEMU emulation is not enabled; "
                             "install it with 'sudo apt-get install -y qemu-user-static "
                             f"binfmt-support && sudo update-binfmts --enable "
                             f"{EMULATORS.get(image.arch, 'qemu-' + image.arch)}'")
    work = cache_dir() / f"work-{image.suite}-{image.arch}"
    log = cache_dir() / f"debootstrap-{image.suite}-{image.arch}.log"
    remove_tree(work)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("")
    print(f"bootstrap: debootstrap {image.suite} {image.arch} from {image.mirror} (log: {log})")
    started = time.monotonic()
    try:
        run_logged(debootstrap_command(work, image.arch, image.mirror,
                                       foreign=image.foreign, suite=image.suite), log)
        if image.foreign:
            run_logged(second_stage_command(work), log)
        drop_apt_caches(work)
        partial = tarball.with_suffix(".tar.partial")
        run_logged(["tar", "--numeric-owner", "-C", str(work), "-cf", str(partial), "."], log)
        os.replace(partial, tarball)
    finally:
        remove_tree(work)
    print(f"bootstrap: {tarball.name} cached in {time.monotonic() - started:.1f} s")
    return tarball


def drop_apt_caches(root: Path) -> None:
    """What `apt-get clean` and dropping the package lists remove, done from the host."""
    for pattern in ("var/cache/apt/*.bin", "var/cache/apt/archives/*.deb",
                    "var/lib/apt/lists/*"):
        for path in root.glob(pattern):
            if path.is_file():
                path.unlink()


def run_logged(command: list[str], log: Path) -> None:
    """Run `command` with its output appended to `log`; fail with the log's tail."""
    with log.open("a", encoding="utf-8") as out:
        out.write(f"$ {' '.join(command)}\n")
        out.flush()
        done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
        tail = "\n".join(lines[-LOG_TAIL_LINES:])
        raise BootstrapError(f"{command[0]} failed (exit {done.returncode}); "
                             f"end of {log}:\n{tail}")


def mounts_under(path: Path) -> list[str]:
    """Mount points at or below `path`, deepest first."""
    prefix = str(path.resolve())
    with open("/proc/self/mounts", encoding="utf-8") as mounts:
        points = [line.split()[1] for line in mounts]
    return sorted((p for p in points if p == prefix or p.startswith(prefix + "/")), reverse=True)


def remove_tree(path: Path) -> None:
    """Delete a debootstrap tree, after unmounting what a failed run left mounted in it."""
    if not path.exists():
        return
    for point in mounts_under(path):
        subprocess.run(["umount", "-l", point], check=False)
    if mounts_under(path):
        # never delete through a mount: it could reach the host's /dev or /proc
        raise BootstrapError(f"{path} still has mounts; unmount them and remove it")
    shutil.rmtree(path)


@contextmanager
def locked(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive lock on `lock_file` (parallel tasks and test runs share images)."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
