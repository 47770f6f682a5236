"""The registry overview against real registries: our own on a loopback port, and :5000."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import shutil
import socket
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest

from axion_build.adapters.registry import (
    IMAGE_TYPES,
    INDEX_TYPES,
    RegistryClient,
    image_size,
    next_page,
    overview,
    platform_name,
    registry_base_url,
)
from axion_build.config.model import RegistrySpec

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    try:  # libcrypt makes the bcrypt hashes the registry's htpasswd wants
        import crypt
    except ImportError:
        crypt = None

CONFIG_TYPE = "application/vnd.docker.container.image.v1+json"
LAYER_TYPE = "application/vnd.docker.image.rootfs.diff.tar.gzip"


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

@dataclass
class Registry:
    """A docker-registry process on a loopback port."""

    url: str
    username: str = ""
    password: str = ""

    @property
    def host(self) -> str:
        return self.url.split("://", 1)[1]

    def spec(self, **changes) -> RegistrySpec:
        fields = dict(url=self.host, namespace="axion", insecure=True, username=self.username,
                      password=self.password)
        return RegistrySpec(**{**fields, **changes})

    def request(self, method: str, path: str, body: bytes = b"", content_type: str = ""):
        url = path if path.startswith("http") else f"{self.url}{path}"
        request = urllib.request.Request(url, data=body or None, method=method)
        if content_type:
            request.add_header("Content-Type", content_type)
        if self.username:
            pair = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            request.add_header("Authorization", f"Basic {pair}")
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.headers

    def blob(self, repository: str, data: bytes) -> dict:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        location = self.request("POST", f"/v2/{repository}/blobs/uploads/")["Location"]
        separator = "&" if "?" in location else "?"
        self.request("PUT", f"{location}{separator}digest={digest}", data,
                     "application/octet-stream")
        return {"size": len(data), "digest": digest}

    def image(self, repository: str, reference: str, arch: str, payload: bytes,
              variant: str = "") -> dict:
        """Push a one-layer image manifest; returns its descriptor."""
        layer = gzip.compress(tar_of({"hello.txt": payload}), mtime=0)
        platform = {"os": "linux", "architecture": arch, **({"variant": variant} if variant
                                                            else {})}
        config = json.dumps({**platform, "rootfs": {"type": "layers", "diff_ids": [
            "sha256:" + hashlib.sha256(tar_of({"hello.txt": payload})).hexdigest()]}}).encode()
        manifest = {"schemaVersion": 2, "mediaType": IMAGE_TYPES[0],
                    "config": {"mediaType": CONFIG_TYPE, **self.blob(repository, config)},
                    "layers": [{"mediaType": LAYER_TYPE, **self.blob(repository, layer)}]}
        body = json.dumps(manifest).encode()
        self.request("PUT", f"/v2/{repository}/manifests/{reference}", body, IMAGE_TYPES[0])
        return {"mediaType": IMAGE_TYPES[0], "size": len(body),
                "digest": "sha256:" + hashlib.sha256(body).hexdigest(), "platform": platform,
                "bytes": image_size(manifest)}

    def index(self, repository: str, tag: str, children: list[dict]) -> str:
        """Push a manifest list of already pushed images; returns its digest."""
        index = {"schemaVersion": 2, "mediaType": INDEX_TYPES[0],
                 "manifests": [{k: v for k, v in c.items() if k != "bytes"} for c in children]}
        body = json.dumps(index).encode()
        self.request("PUT", f"/v2/{repository}/manifests/{tag}", body, INDEX_TYPES[0])
        return "sha256:" + hashlib.sha256(body).hexdigest()


def tar_of(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(url: str) -> bool:
    try:
        urllib.request.urlopen(f"{url}/v2/", timeout=1)
    except urllib.error.HTTPError as exc:
        return exc.code == 401
    except OSError:
        return False
    return True


def start_registry(folder: Path, htpasswd: str = "") -> tuple[subprocess.Popen, str]:
    """Run docker-registry with filesystem storage in `folder` on a free loopback port."""
    if shutil.which("docker-registry") is None:
        pytest.skip("docker-registry is not installed")
    port = free_port()
    auth = ""
    if htpasswd:
        (folder / "htpasswd").write_text(htpasswd)
        auth = f"auth:\n  htpasswd:\n    realm: axion\n    path: {folder / 'htpasswd'}\n"
    config = folder / "config.yml"
    config.write_text(f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
                      f"    rootdirectory: {folder / 'data'}\nhttp:\n  addr: 127.0.0.1:{port}\n"
                      + auth)
    process = subprocess.Popen(["docker-registry", "serve", str(config)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while not answers(url):
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            pytest.fail("docker-registry did not start")
        time.sleep(0.1)
    return process, url


@pytest.fixture
def registry(tmp_path):
    process, url = start_registry(tmp_path)
    yield Registry(url)
    process.terminate()
    process.wait(10)


@pytest.fixture
def private_registry(tmp_path):
    if crypt is None:
        pytest.skip("no bcrypt hashing for the registry's htpasswd")
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
        pytest.skip("no Docker engine")
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
        pytest.skip("no registry on 127.0.0.1:5000")
    view = overview(RegistrySpec(url="127.0.0.1:5000", insecure=True), "")
    assert view.reachable, view.error
    assert all(not t.error for t in view.tags)
