"""Local Debian base images: pure recipes and command lines, then real bootstraps on the engine."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from axion_build.adapters import docker
from axion_build.build.bootstrap import (
    RECIPE_LABEL,
    BootstrapError,
    base_images,
    debootstrap_command,
    drop_apt_caches,
    emulation_available,
    ensure_rootfs,
    is_current,
    mounts_under,
    remove_tree,
    rootfs_tarball,
    run_logged,
    second_stage_command,
)
from axion_build.config.model import ImageSpec
from needs import missing, needs
from tasks.base import base_image_tasks
from workspace import ROOT, ran_tasks, uptodate_tasks

MIRROR = "http://deb.debian.org/debian"
RUNTIME = "axion-base/bookworm-runtime:latest"
BUILDER = "axion-base/bookworm-builder:latest"
needs_engine = needs(docker.engine_available(),
                     "no Docker engine answers (./run tests starts one)")


@pytest.mark.parametrize(
    ("arch", "foreign", "expected"),
    [
        ("amd64", False, ["debootstrap", "--arch=amd64", "--variant=minbase",
                          "--include=python3,python3-venv,ca-certificates", "bookworm",
                          "/r", MIRROR]),
        ("arm64", True, ["debootstrap", "--arch=arm64", "--foreign", "--variant=minbase",
                         "--include=python3,python3-venv,ca-certificates", "bookworm",
                         "/r", MIRROR]),
    ],
)
def test_debootstrap_command(arch, foreign, expected):
    assert debootstrap_command(Path("/r"), arch, MIRROR, foreign=foreign) == expected


def test_second_stage_runs_inside_the_tree():
    assert second_stage_command(Path("/r")) == [
        "chroot", "/r", "/debootstrap/debootstrap", "--second-stage"]


@pytest.mark.parametrize(
    ("platform", "runtime", "builder"),
    [
        ("linux/amd64", RUNTIME, BUILDER),
        ("linux/arm64", RUNTIME + "-arm64", BUILDER + "-arm64"),
    ],
)
def test_base_image_tags_per_platform(platform, runtime, builder):
    run, build = base_images(ImageSpec(), platform, "FROM x")
    assert (run.tag, build.tag, build.runtime_tag) == (runtime, builder, runtime)
    assert (run.name, build.name) == tuple(f"{k}-{platform[6:]}" for k in ("runtime", "builder"))


def test_recipes_follow_architecture_and_dockerfile_not_mirror():
    amd_run, amd_build = base_images(ImageSpec(), "linux/amd64", "FROM x")
    arm_run, _ = base_images(ImageSpec(), "linux/arm64", "FROM x")
    other_mirror = base_images(ImageSpec(debian_mirror="http://mirror.local/debian"),
                               "linux/amd64", "FROM x")
    _, new_dockerfile = base_images(ImageSpec(), "linux/amd64", "FROM y")
    assert amd_run.recipe != arm_run.recipe
    assert (other_mirror[0].recipe, other_mirror[1].recipe) == (amd_run.recipe, amd_build.recipe)
    assert new_dockerfile.recipe != amd_build.recipe
    assert rootfs_tarball(amd_run) != rootfs_tarball(arm_run)


def test_tasks_per_platform_and_none_without_bootstrap():
    tasks = list(base_image_tasks(ImageSpec(), ["linux/amd64", "linux/arm64"]))
    assert [t["name"] for t in tasks] == [
        "runtime-amd64", "builder-amd64", "runtime-arm64", "builder-arm64"]
    assert all(callable(t["actions"][0][0]) and t["doc"] for t in tasks)
    assert list(base_image_tasks(ImageSpec(bootstrap=False), ["linux/amd64"])) == []


def test_run_logged_keeps_output_in_the_log_and_fails_with_its_tail(tmp_path):
    log = tmp_path / "run.log"
    run_logged(["sh", "-c", "echo first"], log)
    with pytest.raises(BootstrapError) as failed:
        run_logged(["sh", "-c", "echo second; echo 'E: no such suite' >&2; exit 3"], log)
    message = str(failed.value)
    assert "exit 3" in message and "E: no such suite" in message and str(log) in message
    assert "first" in log.read_text()


def test_drop_apt_caches(tmp_path):
    keep = ["etc/apt/sources.list", "var/lib/apt/lists/partial/.keep", "usr/bin/python3"]
    drop = ["var/cache/apt/pkgcache.bin", "var/cache/apt/archives/python3_3.11.deb",
            "var/lib/apt/lists/deb.debian.org_dists_bookworm_InRelease"]
    for name in keep + drop:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    drop_apt_caches(tmp_path)
    assert [n for n in keep + drop if (tmp_path / n).exists()] == keep


@pytest.mark.skipif(sys.platform != "linux", reason="mounts are Linux-only")
def test_remove_tree_unmounts_what_a_failed_run_left(tmp_path):
    tree = tmp_path / "work"
    (tree / "proc").mkdir(parents=True)
    if subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(tree / "proc")]).returncode != 0:
        missing("cannot mount here (not root)")
    assert mounts_under(tree) == [str(tree / "proc")]
    remove_tree(tree)
    assert not tree.exists() and mounts_under(tmp_path) == []


def test_no_emulation_for_an_unknown_architecture():
    assert emulation_available("no-such-arch") is False


DODO = """
from tasks.base import base_image_tasks
from axion_build.config.model import ImageSpec


def task_base():
    yield from base_image_tasks(ImageSpec(), [{platform!r}])
"""


def run_base_tasks(folder: Path, platform: str) -> subprocess.CompletedProcess:
    """Run the real doit on the base-image tasks of one platform."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dodo.py").write_text(DODO.format(platform=platform))
    done = subprocess.run(
        [sys.executable, "-m", "doit", "-f", str(folder / "dodo.py"), "--db-file",
         str(folder / "doit.db"), "base"],
        cwd=folder, capture_output=True, text=True, timeout=1800,
        # the stage modules of this checkout (`tasks` is never installed under that name)
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, f"doit base failed:\n{done.stdout[-4000:]}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def amd64_bases(tmp_path_factory) -> Path:
    """The amd64 base images, bootstrapped (or found current) through doit."""
    folder = tmp_path_factory.mktemp("base-amd64")
    run_base_tasks(folder, "linux/amd64")
    return folder


@needs_engine
def test_runtime_base_runs_python_311(amd64_bases):
    out = docker.run_output(RUNTIME, ["python3", "-c", "import sys; print(sys.version_info[:2])"])
    assert out.strip() == "(3, 11)"
    inspect = docker.inspect_image(RUNTIME)
    assert "LANG=C.UTF-8" in inspect["Config"]["Env"]
    assert inspect["Architecture"] == "amd64"
    assert docker.run_output(RUNTIME, ["python3", "-m", "venv", "--help"]).startswith("usage")


@needs_engine
def test_builder_base_compiles_against_python_headers(amd64_bases):
    probe = ("import os, sysconfig; "
             "print(os.path.exists(os.path.join(sysconfig.get_paths()['include'], 'Python.h')))")
    assert docker.run_output(BUILDER, ["python3", "-c", probe]).strip() == "True"
    assert "gcc" in docker.run_output(BUILDER, ["gcc", "--version"])


@needs_engine
def test_rerun_is_up_to_date_and_rebuilds_nothing(amd64_bases):
    ids = {tag: docker.image_id(tag) for tag in (RUNTIME, BUILDER)}
    for task in base_image_tasks(ImageSpec(), ["linux/amd64"]):
        check, args = task["uptodate"][0]
        assert check(*args) is True
    started = time.monotonic()
    done = run_base_tasks(amd64_bases, "linux/amd64")
    assert ran_tasks(done.stdout) == []
    assert sorted(uptodate_tasks(done.stdout)) == ["base:builder-amd64", "base:runtime-amd64"]
    assert {tag: docker.image_id(tag) for tag in ids} == ids
    assert time.monotonic() - started < 20


@needs_engine
def test_removed_runtime_is_reimported_from_the_cached_tarball(amd64_bases):
    # a second tag with the same recipe stands in for the real one after `docker rmi`
    tag = "axion-test/bootstrap-runtime:reimport"
    images = ImageSpec(base_runtime_image=tag)
    task = next(base_image_tasks(images, ["linux/amd64"]))
    action, args = task["actions"][0]
    runtime = args[0]
    tarball = ensure_rootfs(runtime)  # already cached unless the cache folder was wiped
    cached = tarball.stat().st_mtime
    docker.remove_image(tag)
    assert is_current(tag, runtime.recipe) is False
    try:
        started = time.monotonic()
        assert action(*args) is None
        assert time.monotonic() - started < 60
        assert tarball.stat().st_mtime == cached
        assert docker.image_labels(tag)[RECIPE_LABEL] == docker.image_labels(RUNTIME)[
            RECIPE_LABEL]
        assert is_current(tag, runtime.recipe)
    finally:
        docker.remove_image(tag)


@needs_engine
def test_a_stale_label_is_not_current(amd64_bases):
    runtime, _ = base_images(ImageSpec(), "linux/amd64", "")
    assert is_current(RUNTIME, runtime.recipe)
    assert not is_current(RUNTIME, "0" * 64)
    assert not is_current("axion-test/no-such-image:latest", runtime.recipe)


@pytest.mark.e2e
@needs_engine
@needs(emulation_available("arm64"), "no QEMU emulation for arm64")
def test_arm64_base_images_are_real_arm64(tmp_path):
    run_base_tasks(tmp_path, "linux/arm64")
    runtime, builder = RUNTIME + "-arm64", BUILDER + "-arm64"
    assert docker.inspect_image(runtime)["Architecture"] == "arm64"
    probe = "import platform, sys; print(platform.machine(), sys.version_info[:2])"
    out = docker.run_output(runtime, ["python3", "-c", probe], platform="linux/arm64")
    assert out.strip() == "aarch64 (3, 11)"
    assert docker.run_output(builder, ["uname", "-m"], platform="linux/arm64").strip() == "aarch64"
    assert "gcc" in docker.run_output(builder, ["gcc", "--version"], platform="linux/arm64")
