"""A real registry of our own for tests: docker-registry on a free loopback port, and
pushing hand-made images and indexes to it."""

from __future__ import annotations

import base64
import contextlib
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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from axion_build.adapters.registry import IMAGE_TYPES, INDEX_TYPES, image_size
from axion_build.config.model import RegistrySpec
from needs import missing

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    try:  # libcrypt makes the bcrypt hashes the registry's htpasswd wants
        import crypt
    except ImportError:
        crypt = None

CONFIG_TYPE = "application/vnd.docker.container.image.v1+json"
LAYER_TYPE = "application/vnd.docker.image.rootfs.diff.tar.gzip"

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


def start_registry(folder: Path, htpasswd: str = "",
                   host: str = "127.0.0.1") -> tuple[subprocess.Popen, str]:
    """Run docker-registry with filesystem storage in `folder` on a free port of `host`
    (loopback, unless a test needs an address the engine does not trust as plain HTTP)."""
    if shutil.which("docker-registry") is None:
        missing("docker-registry is not installed")
    port = free_port()
    auth = ""
    if htpasswd:
        (folder / "htpasswd").write_text(htpasswd)
        auth = f"auth:\n  htpasswd:\n    realm: axion\n    path: {folder / 'htpasswd'}\n"
    config = folder / "config.yml"
    config.write_text(f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
                      f"    rootdirectory: {folder / 'data'}\nhttp:\n  addr: {host}:{port}\n"
                      + auth)
    process = subprocess.Popen(["docker-registry", "serve", str(config)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://{host}:{port}"
    deadline = time.monotonic() + 20
    while not answers(url):
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            pytest.fail("docker-registry did not start")
        time.sleep(0.1)
    return process, url


@contextlib.contextmanager
def served_registry(folder: Path) -> Iterator[tuple[Registry, Path, subprocess.Popen]]:
    """A registry of a test's own in `folder`: (it, the folder of its blobs, its process),
    stopped at the end unless the test stopped it."""
    folder.mkdir(parents=True, exist_ok=True)
    process, url = start_registry(folder)
    try:
        yield Registry(url), folder / "data", process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(10)
