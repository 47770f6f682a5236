"""Push and multi-arch: real registries on loopback (with and without htpasswd), QEMU arm64."""

from __future__ import annotations

import hashlib
import json
import subprocess
import uuid
from pathlib import Path

import pytest
from registryd import crypt, free_port, start_registry

from axion_build.adapters.registry import RegistryClient, manifest_digest
from axion_build.config.model import RegistrySpec
from axion_build.publish.multiarch import list_tag
from axion_build.publish.sbomdoc import module_hashes
from needs import missing, needs
from workspace import make_workspace, provision, ran_tasks

pytestmark = pytest.mark.e2e


def test_list_tag_names_the_set_of_platform_contents():
    one = list_tag({"linux/amd64": "a", "linux/arm64": "b"})
    assert one == list_tag({"linux/arm64": "b", "linux/amd64": "a"})
    assert one != list_tag({"linux/amd64": "a", "linux/arm64": "c"})
    assert one.startswith("in-")


@pytest.fixture
def shop(tmp_path, base_images):
    ws = make_workspace(tmp_path / "ws")
    provision(ws)
    return ws


@pytest.fixture
def private_registry(tmp_path):
    if crypt is None:
        missing("no bcrypt hashing for the registry's htpasswd")
    hashed = crypt.crypt("s3cret-push", crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))
    folder = tmp_path / "registry"
    folder.mkdir()
    process, url = start_registry(folder, f"builder:{hashed}\n")
    yield url.removeprefix("http://")
    process.terminate()
    process.wait(10)
    subprocess.run(["docker", "logout", url.removeprefix("http://")], capture_output=True)


def test_push_with_auth_then_skip_when_the_registry_has_the_digest(shop, private_registry):
    env = {"AXION_REGISTRY_URL": private_registry, "AXION_REGISTRY_USERNAME": "builder",
           "AXION_REGISTRY_PASSWORD": "s3cret-push"}
    first = shop.doit("push:shop", check=True, **env)
    assert {"push:shop:shop", "push:shop:stock", "push:shop:runtime"} <= set(
        ran_tasks(first.stdout))
    assert "s3cret-push" not in first.stdout + first.stderr
    spec = RegistrySpec(url=private_registry, insecure=True, username="builder",
                        password="s3cret-push")
    client = RegistryClient(f"http://{private_registry}", "builder", "s3cret-push")
    tags = client.tags("axion/shop-shop")
    pinned = [t for t in tags if t.startswith("in-")]
    assert "latest" in tags and len(pinned) == 1
    assert manifest_digest(spec, "axion/shop-shop", "latest") == manifest_digest(
        spec, "axion/shop-shop", pinned[0])
    second = shop.doit("push:shop", check=True, **env)
    assert [t for t in ran_tasks(second.stdout) if t.startswith("push:")] == []


def test_refused_credentials_and_unreachable_registry_fail_clearly(shop, private_registry):
    refused = shop.doit("push:shop:shop", AXION_REGISTRY_URL=private_registry,
                        AXION_REGISTRY_USERNAME="builder", AXION_REGISTRY_PASSWORD="wrong")
    assert refused.returncode != 0
    assert "push of axion-shop:shop to" in refused.stdout + refused.stderr
    assert "wrong" not in refused.stdout
    client = RegistryClient(f"http://{private_registry}", "builder", "s3cret-push")
    assert client.catalog() == []
    nowhere = f"127.0.0.1:{free_port()}"
    unreachable = shop.doit("push:shop:shop", AXION_REGISTRY_URL=nowhere)
    assert unreachable.returncode != 0
    assert nowhere in unreachable.stdout + unreachable.stderr


def arm64_possible() -> bool:
    binfmt = Path("/proc/sys/fs/binfmt_misc/qemu-aarch64")
    return binfmt.exists() and "enabled" in binfmt.read_text()


@needs(arm64_possible(), "no QEMU binfmt for arm64 on this machine")
def test_manifest_list_of_amd64_and_arm64_runs_compiled_code_under_qemu(shop):
    namespace = f"multi-{uuid.uuid4().hex[:8]}"
    env = {"AXION_REGISTRY_NAMESPACE": namespace}
    done = shop.doit("pipeline:shop", "platform=linux/amd64,linux/arm64", "service=shop",
                     check=True, **env)
    ran = ran_tasks(done.stdout)
    assert "image:shop:shop:manifest" in ran and "compile:shop:arm64" in ran
    assert not any(t.startswith("push:") for t in ran)  # published by the image stage
    repo = f"{namespace}/shop-shop"
    client = RegistryClient("http://127.0.0.1:5000")
    index, _, _ = client.manifest(repo, "latest")
    platforms = {f"{m['platform']['os']}/{m['platform']['architecture']}"
                 for m in index["manifests"]}
    assert platforms == {"linux/amd64", "linux/arm64"}
    ref = f"127.0.0.1:5000/{repo}:latest"
    code = ("import os, sys, platform; "
            "[sys.path.insert(0, d) for d, _, _ in os.walk('/axion/factory.util')]; "
            "[sys.path.insert(0, d) for d, _, _ in os.walk('/axion/factory.shop')]; "
            "import ObjCart; c = ObjCart.Cart(); c.add('tea', 2.0); "
            "print(platform.machine(), ObjCart.__file__, c.total())")
    out = subprocess.run(["docker", "run", "--rm", "--pull", "always", "--platform",
                          "linux/arm64", ref, "python", "-c", code],
                         capture_output=True, text=True, check=True).stdout.split()
    assert out == ["aarch64", "/axion/factory.shop/ObjCart.so", "2.3"]
    # the venv was made by the host's builder from the arm64 wheels: PyYAML's C extension
    # is arm64's and loads there, and no step of the arm64 image ran arm64 code
    libyaml = ("import platform, yaml, yaml._yaml as c; "
               "print(platform.machine(), yaml.__with_libyaml__, c.__file__)")
    out = subprocess.run(["docker", "run", "--rm", "--platform", "linux/arm64", ref, "python",
                          "-c", libyaml], capture_output=True, text=True, check=True).stdout
    assert out.split()[:2] == ["aarch64", "True"] and "aarch64" in out.split()[2]
    assert "python-platform" in (shop.build / "linux-arm64" / "context" / "Dockerfile").read_text()
    assert ((shop.build / "linux-arm64" / "context" / "python-platform").read_text()
            == "aarch64-manylinux_2_36\n")
    steps = subprocess.run(["docker", "history", "--no-trunc", "--format", "{{.CreatedBy}}",
                            "axion-shop:shop-arm64"], capture_output=True, text=True,
                           check=True).stdout.splitlines()
    assert steps and not [s for s in steps if s.startswith("RUN")], steps
    # the arm64 Caddy: the arm64 package's binary, fetched on the host, runs on arm64
    shop.doit("image:shop:caddy-arm64", "platform=linux/amd64,linux/arm64", check=True, **env)
    shop.doit("image:shop:caddy", check=True, **env)
    versions = [subprocess.run(["docker", "run", "--rm", "--platform", platform, image, "sh",
                                "-c", "uname -m && caddy version"],
                               capture_output=True, text=True, check=True).stdout.split()
                for platform, image in (("linux/arm64", "axion-shop:caddy-arm64"),
                                        ("linux/amd64", "axion-shop:caddy"))]
    assert [v[0] for v in versions] == ["aarch64", "x86_64"]
    assert versions[0][1:] == versions[1][1:] and versions[0][1][0].isdigit()  # one package
    # the list and each platform's image are signed, with an SBOM of that platform's tree
    verified = shop.doit("verify:shop", "platform=linux/amd64,linux/arm64", "service=shop",
                         **env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert f"ok      127.0.0.1:5000/{repo}:latest@" in verified.stdout
    arm_sbom = json.loads((shop.build / "linux-arm64" / "supply" / "shop.cdx.json").read_text())
    assert module_hashes(arm_sbom)["factory.shop/ObjCart.so"][0] == hashlib.sha256(
        (shop.build / "linux-arm64" / "compiled" / "factory.shop" / "ObjCart.so").read_bytes()
    ).hexdigest()
    again = shop.doit("pipeline:shop", "platform=linux/amd64,linux/arm64", "service=shop",
                      check=True, **env)
    assert [t for t in ran_tasks(again.stdout) if t.startswith(("image:", "compile:"))] == []
    # a registry that cannot be reached: a clear error, and no manifest list anywhere
    nowhere = f"127.0.0.1:{free_port()}"
    failed = shop.doit("image:shop:shop:manifest", "platform=linux/amd64,linux/arm64",
                       AXION_REGISTRY_URL=nowhere, **env)
    assert failed.returncode != 0
    assert f"registry {nowhere} unreachable, nothing pushed" in failed.stdout + failed.stderr
