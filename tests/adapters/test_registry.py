"""The registry overview against real registries: our own on a loopback port, and :5000."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from registryd import Registry, answers, crypt, start_registry

from axion_build.adapters.registry import (
    RegistryClient,
    image_size,
    image_tags,
    next_page,
    overview,
    platform_name,
    registry_base_url,
)
from axion_build.config.model import RegistrySpec
from needs import missing


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (RegistrySpec(url="127.0.0.1:5000", insecure=True), "http://127.0.0.1:5000"),
        (RegistrySpec(url="registry.example.com", insecure=False), "https://registry.example.com"),
        (RegistrySpec(url="https://10.0.10.5:5000/", insecure=True), "https://10.0.10.5:5000"),
    ],
)
def test_registry_base_url(spec, expected):
    assert registry_base_url(spec) == expected


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ('</v2/_catalog?last=b&n=100>; rel="next"', "/v2/_catalog?last=b&n=100"),
        ("", ""),
        ('<https://r/v2/_catalog?n=2>; rel="prev"', ""),
    ],
)
def test_next_page(link, expected):
    assert next_page(link) == expected


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"os": "linux", "architecture": "amd64"}, "linux/amd64"),
        ({"os": "linux", "architecture": "arm64", "variant": "v8"}, "linux/arm64/v8"),
        ({}, "?/?"),
    ],
)
def test_platform_name(spec, expected):
    assert platform_name(spec) == expected


def test_image_size_counts_config_and_layers():
    assert image_size({"config": {"size": 10}, "layers": [{"size": 5}, {"size": 7}]}) == 22


def test_unreachable_registry_is_a_note_not_an_error():
    view = overview(RegistrySpec(url="127.0.0.1:9", insecure=True), timeout=2)
    assert not view.reachable and "127.0.0.1:9" in view.error


# A real registry of our own -----------------------------------------------------------


@pytest.fixture
def registry(tmp_path):
    process, url = start_registry(tmp_path)
    yield Registry(url)
    process.terminate()
    process.wait(10)


@pytest.fixture
def private_registry(tmp_path):
    if crypt is None:
        missing("no bcrypt hashing for the registry's htpasswd")
    hashed = crypt.crypt("s3cret", crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))
    process, url = start_registry(tmp_path, f"builder:{hashed}\n")
    yield Registry(url, "builder", "s3cret")
    process.terminate()
    process.wait(10)


def test_overview_lists_repositories_tags_digests_sizes_and_platforms(registry):
    amd = registry.image("axion/demo-report", "amd64", "amd64", b"report amd64")
    arm = registry.image("axion/demo-report", "arm64", "arm64", b"report arm64", variant="v8")
    multi = registry.index("axion/demo-report", "latest", [amd, arm])
    single = registry.image("axion/demo-web", "1.0", "amd64", b"web")
    registry.image("other/thing", "x", "amd64", b"not ours")

    view = overview(registry.spec(), "axion/demo")
    assert view.reachable and view.error == ""
    assert view.repositories == ("axion/demo-report", "axion/demo-web")
    tags = {(t.repository, t.tag): t for t in view.tags}
    assert set(tags) == {("axion/demo-report", "amd64"), ("axion/demo-report", "arm64"),
                         ("axion/demo-report", "latest"), ("axion/demo-web", "1.0")}
    latest = tags[("axion/demo-report", "latest")]
    assert (latest.kind, latest.digest) == ("index", multi)
    assert latest.platforms == ("linux/amd64", "linux/arm64/v8")
    assert latest.size == amd["bytes"] + arm["bytes"]
    web = tags[("axion/demo-web", "1.0")]
    assert (web.kind, web.digest, web.size, web.platforms) == (
        "image", single["digest"], single["bytes"], ("linux/amd64",))


def test_catalog_follows_pagination(registry):
    for index in range(3):
        registry.image(f"axion/page-{index}", "t", "amd64", str(index).encode())
    client = RegistryClient(registry.url)
    import axion_build.adapters.registry as module

    page, module.PAGE = module.PAGE, 2
    try:
        assert client.catalog() == ["axion/page-0", "axion/page-1", "axion/page-2"]
    finally:
        module.PAGE = page


def test_limits_mark_the_overview_truncated(registry):
    for tag in ("a", "b", "c"):
        registry.image("axion/demo-many", tag, "amd64", tag.encode())
    view = overview(registry.spec(), "axion/", max_tags=2)
    assert view.truncated and [t.tag for t in view.tags] == ["a", "b"]


def test_basic_auth(private_registry):
    private_registry.image("axion/demo-secure", "1", "amd64", b"secure")
    view = overview(private_registry.spec(), "axion/")
    assert view.reachable and [t.tag for t in view.tags] == ["1"]
    refused = overview(private_registry.spec(password="wrong"), "axion/")
    assert not refused.reachable and "401" in refused.error
    anonymous = overview(private_registry.spec(username="", password=""), "axion/")
    assert not anonymous.reachable and "401" in anonymous.error


def docker_works() -> bool:
    return shutil.which("docker") is not None and subprocess.run(
        ["docker", "info"], capture_output=True).returncode == 0


@pytest.mark.e2e
def test_an_image_pushed_by_docker_shows_up(registry, tmp_path):
    if not docker_works():
        missing("no Docker engine")
    ref = f"{registry.host}/axion/demo-tiny:1"
    (tmp_path / "rootfs").mkdir()
    (tmp_path / "rootfs" / "hello.txt").write_text("tiny")
    tar = subprocess.run(["tar", "-C", str(tmp_path / "rootfs"), "-c", "."],
                         capture_output=True, check=True).stdout
    subprocess.run(["docker", "import", "-", ref], input=tar, capture_output=True, check=True)
    try:
        subprocess.run(["docker", "push", ref], capture_output=True, check=True)
        pushed = subprocess.run(["docker", "inspect", "--format", "{{json .RepoDigests}}", ref],
                                capture_output=True, text=True, check=True).stdout
    finally:
        subprocess.run(["docker", "rmi", ref], capture_output=True)
    view = overview(registry.spec(), "axion/demo-tiny")
    assert [(t.tag, t.platforms) for t in view.tags] == [("1", ("linux/amd64",))]
    assert view.tags[0].digest in pushed and view.tags[0].size > 0


def test_shared_registry_on_5000_is_read_when_it_answers():
    if not answers("http://127.0.0.1:5000"):
        missing("no registry on 127.0.0.1:5000")
    view = overview(RegistrySpec(url="127.0.0.1:5000", insecure=True), "")
    assert view.reachable, view.error
    assert all(not t.error for t in view.tags)


def test_cosign_tags_are_told_apart_from_image_tags():
    digest = "sha256-" + "a" * 64
    names, cosign = image_tags(["in-1", f"{digest}.sig", "latest", f"{digest}.att",
                                "sha256-short.sig"])
    assert names == ["latest", "in-1", "sha256-short.sig"]
    assert cosign == {f"{digest}.sig", f"{digest}.att"}
