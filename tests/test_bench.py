"""The benchmarks touch only what is theirs: a package of their own, its images only, and
never the engine's build cache (a cold build is a `--no-cache` build)."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from axion_build.config.load import load_config
from workspace import ROOT

sys.path.insert(0, str(ROOT / "bench"))

import example  # noqa: E402

from bench import remove_package_images  # noqa: E402

# what empties something of the whole engine or host, whoever made it
WHOLE_ENGINE = re.compile(r"(builder|system|image|container|volume|network)\W+prune|"
                          r"buildx\W+prune|\"-af\"")


@pytest.mark.parametrize("folder", ["bench", "tests"])
def test_no_bench_or_test_prunes_the_whole_engine(folder):
    found = [f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
             for path in sorted((ROOT / folder).rglob("*.py")) if path.name != "test_bench.py"
             for n, line in enumerate(path.read_text().splitlines(), 1)
             if WHOLE_ENGINE.search(line) and not line.lstrip().startswith("#")]
    assert found == []


def test_the_example_rows_run_as_a_package_of_their_own(tmp_path):
    names = {example.own_package("cold") for _ in range(3)}
    assert len(names) == 3 and all(re.fullmatch(r"benchcold[0-9a-f]{6}", n) for n in names)
    package = names.pop()
    root = example.example_checkout(tmp_path / "checkout", package)
    cfg = load_config(root / "config" / f"{package}.yaml", environ={})
    assert cfg.name == package and cfg.app_root == (root / "app").resolve()
    assert (root / "app" / "data.config" / f"{package}_private.pem").is_file()


def local_tags(repository: str) -> list[str]:
    """Every `repository:tag` the engine holds of one repository."""
    return sorted(subprocess.run(["docker", "images", "--format", "{{.Repository}}:{{.Tag}}",
                                 repository], capture_output=True, text=True,
                                 check=True).stdout.split())


def test_removing_the_bench_images_removes_only_its_own_package(base_images):
    """Tags of the bench's package go; a package whose name only starts the same, and the
    main checkout's `axion-homechoice:*`, stay."""
    package = example.own_package("cold")
    source = base_images[0]
    mine = [f"axion-{package}:latest", f"axion-{package}:web"]
    neighbour = f"axion-{package}x:latest"
    main_before = local_tags("axion-homechoice")
    try:
        for tag in (*mine, neighbour):
            subprocess.run(["docker", "tag", source, tag], check=True, capture_output=True)
        remove_package_images(package)
        assert local_tags(f"axion-{package}") == []
        assert local_tags(f"axion-{package}x") == [neighbour]
        assert local_tags("axion-homechoice") == main_before
    finally:
        subprocess.run(["docker", "rmi", *mine, neighbour], capture_output=True)


def built_id(context: Path, tag: str, cache: bool) -> str:
    """The image id of one build of `context` by the pipeline's build call."""
    from axion_build.adapters import docker

    docker.build_image(context, context / "Dockerfile", target=None, tags=[tag],
                       build_args={}, labels={}, cache=cache)
    return subprocess.run(["docker", "image", "inspect", "--format", "{{.Id}}", tag],
                          capture_output=True, text=True, check=True).stdout.strip()


def test_a_build_without_the_cache_runs_every_step_again(tmp_path, base_images):
    """no_build_cache=1 gives `--no-cache` builds: a step BuildKit would take from its
    cache runs again (its output differs), and no cache is pruned for it."""
    from axion_build.config.flags import parse_flags

    assert parse_flags({"no_build_cache": "1"}).no_build_cache is True
    (tmp_path / "Dockerfile").write_text(
        f"FROM {base_images[0]}\nRUN cat /proc/sys/kernel/random/uuid > /built\n")
    tag = f"axt-nocache-{uuid.uuid4().hex[:8]}"
    try:
        first = built_id(tmp_path, f"{tag}:a", cache=True)
        assert built_id(tmp_path, f"{tag}:b", cache=True) == first  # the cache served it
        assert built_id(tmp_path, f"{tag}:c", cache=False) != first
    finally:
        subprocess.run(["docker", "rmi", f"{tag}:a", f"{tag}:b", f"{tag}:c"],
                       capture_output=True)
