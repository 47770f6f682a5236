"""Base images pulled from a registry (`images.bootstrap: false`), for real: the
bootstrapped bases pushed to a private loopback registry (htpasswd) under other names,
absent from the engine under those names, and the whole pipeline run from there, with
the credentials of the package's registry config."""

from __future__ import annotations

import json
import sqlite3
import subprocess

import pytest
from registryd import Registry, crypt, start_registry

from axion_build.build.bases import PulledBase, registry_host
from axion_build.config.model import RegistrySpec
from needs import missing
from workspace import make_workspace, provision, ran_tasks

PASSWORD = "pull-s3cret-9"


def docker(*args: str, input_text: str | None = None, check: bool = True):
    return subprocess.run(["docker", *args], capture_output=True, text=True, input=input_text,
                          check=check)


@pytest.fixture(scope="module")
def bases_registry(base_images, tmp_path_factory):
    """A private registry holding the bootstrapped bases as `bases/runtime:bookworm` and
    `bases/builder:bookworm`; the engine is logged out of it and lacks those tags."""
    if crypt is None:
        missing("no bcrypt hashing for the registry's htpasswd")
    hashed = crypt.crypt(PASSWORD, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))
    process, url = start_registry(tmp_path_factory.mktemp("bases"), f"builder:{hashed}\n")
    registry = Registry(url, "builder", PASSWORD)
    refs = {"runtime": f"{registry.host}/bases/runtime:bookworm",
            "builder": f"{registry.host}/bases/builder:bookworm"}
    docker("login", "-u", "builder", "--password-stdin", registry.host, input_text=PASSWORD)
    for local, ref in zip(base_images, refs.values()):
        docker("tag", local, ref)
        docker("push", ref)
        docker("image", "rm", ref)
    docker("logout", registry.host)
    yield registry, refs
    docker("logout", registry.host, check=False)
    process.terminate()
    process.wait(10)


def pulling_workspace(tmp_path, registry: Registry, runtime: str, builder: str):
    """The shop package with its bases (and its pushes) in the private registry."""
    ws = make_workspace(tmp_path, "shop")
    with ws.config_file.open("a") as config:
        config.write(f"\nimages:\n  bootstrap: false\n  base_runtime_image: {runtime}\n"
                     f"  base_image: {builder}\n"
                     f"\nregistry:\n  url: {registry.host}\n  username: builder\n")
    provision(ws)
    return ws


def bridge_address() -> str:
    """This machine's address on the engine's default bridge (not loopback)."""
    done = docker("network", "inspect", "bridge", "--format",
                  "{{range .IPAM.Config}}{{.Gateway}}{{end}}", check=False)
    if done.stdout.strip():
        return done.stdout.strip()
    # an engine that leaves the gateway out of IPAM still holds it on its bridge device
    name = docker("network", "inspect", "bridge", "--format",
                  '{{index .Options "com.docker.network.bridge.name"}}', check=False)
    shown = subprocess.run(["ip", "-4", "-o", "addr", "show", "dev",
                            name.stdout.strip() or "docker0"], capture_output=True, text=True)
    fields = shown.stdout.split()
    return fields[fields.index("inet") + 1].split("/")[0] if "inet" in fields else ""


def test_a_plain_http_registry_off_loopback_is_named_as_such(bases_registry, tmp_path):
    """The engine speaks HTTPS to any registry off 127.0.0.0/8 unless told otherwise in
    its own config: the problem says so, and where that is set."""
    registry, refs = bases_registry
    address = bridge_address()
    if not address:
        missing("the engine has no default bridge")
    (tmp_path / "plain").mkdir()
    process, url = start_registry(tmp_path / "plain", host=address)
    try:
        runtime = f"{url.removeprefix('http://')}/bases/runtime:bookworm"
        ws = pulling_workspace(tmp_path / "ws", registry, runtime, refs["builder"])
        done = ws.doit(f"base:pull-runtime-amd64:{runtime}")
    finally:
        process.terminate()
        process.wait(10)
    out = done.stdout + done.stderr
    assert done.returncode != 0
    assert (f"images.base_runtime_image: the engine speaks HTTPS to the registry of {runtime}, "
            "which answers plain HTTP") in out, out
    assert "insecure-registries" in out and "Traceback" not in out


def steps(ws) -> dict[str, tuple[str, str]]:
    """Task → (status, reason) of the last recorded run."""
    with sqlite3.connect(ws.root / "build" / "records.sqlite3") as db:
        guid = db.execute("SELECT BuildGuid FROM log_build_run ORDER BY StartTime DESC "
                          "LIMIT 1").fetchone()[0]
        rows = db.execute("SELECT Task, Status, Reason FROM log_build_step WHERE BuildGuid = ?",
                          (guid,)).fetchall()
    return {task: (status, reason) for task, status, reason in rows}


def local_id(ref: str) -> str:
    done = docker("image", "inspect", "--format", "{{.Id}}", ref, check=False)
    return done.stdout.strip() if done.returncode == 0 else ""


def test_registry_host_and_task_names():
    assert registry_host("127.0.0.1:5000/bases/runtime:bookworm") == "127.0.0.1:5000"
    assert registry_host("localhost/x:1") == "localhost"
    assert registry_host("python:3.12-slim-bookworm") == ""
    assert registry_host("library/python:3.12") == ""
    base = PulledBase("runtime", "linux/arm64", "python:3.12-slim-bookworm",
                      "python:3.12-slim-bookworm-arm64", None, RegistrySpec())
    assert base.name == "pull-runtime-arm64:python:3.12-slim-bookworm"
    assert base.option == "images.base_runtime_image"


def test_the_pipeline_runs_on_bases_pulled_with_the_registry_credentials(
        bases_registry, tmp_path):
    registry, refs = bases_registry
    ws = pulling_workspace(tmp_path, registry, refs["runtime"], refs["builder"])
    assert not local_id(refs["runtime"]) and not local_id(refs["builder"])
    env = {"AXION_REGISTRY_PASSWORD": PASSWORD}

    first = ws.doit("pipeline:shop", check=True, **env)
    pulls = [t for t in ran_tasks(first.stdout) if t.startswith("base:pull-")]
    assert sorted(pulls) == sorted(f"base:pull-{k}-amd64:{r}" for k, r in refs.items())
    assert f"pulled {refs['runtime']} (linux/amd64): new on this engine" in first.stdout
    assert local_id(refs["runtime"]) and local_id(refs["builder"])
    assert "image:shop:stock" in ran_tasks(first.stdout)
    # the image stands on the pulled base: its first layers are the base's
    base_layers = docker("image", "inspect", "--format", "{{json .RootFS.Layers}}",
                         refs["runtime"]).stdout.strip()[1:-1]
    image_layers = docker("image", "inspect", "--format", "{{json .RootFS.Layers}}",
                          "axion-shop:stock").stdout.strip()[1:-1]
    assert image_layers.startswith(base_layers)
    assert PASSWORD not in first.stdout + first.stderr

    again = ws.doit("pipeline:shop", check=True, **env)
    assert ran_tasks(again.stdout) == [] or set(ran_tasks(again.stdout)) <= {
        "report:shop", "pipeline:shop"}

    # the tag moves in the registry: nothing changes until the bases are pulled on purpose
    moved = tmp_path / "moved"
    moved.mkdir()
    (moved / "Dockerfile").write_text(f"FROM {refs['runtime']}\nLABEL org.example.moved=1\n")
    docker("login", "-u", "builder", "--password-stdin", registry.host, input_text=PASSWORD)
    try:
        old = local_id(refs["runtime"])
        docker("build", "-q", "-t", f"{refs['runtime']}-next", str(moved))
        docker("tag", f"{refs['runtime']}-next", refs["runtime"])
        docker("push", refs["runtime"])
        docker("tag", old, refs["runtime"])  # the engine keeps the old one
    finally:
        docker("logout", registry.host)
    unchanged = ws.doit("image:shop", check=True, **env)
    assert not [t for t in ran_tasks(unchanged.stdout) if t.startswith(("base:", "image:"))]

    pulled = ws.doit("pipeline:shop", "pull_bases=1", check=True, **env)
    assert f"pulled {refs['runtime']} (linux/amd64): moved" in pulled.stdout
    assert f"pulled {refs['builder']} (linux/amd64): unchanged" in pulled.stdout
    assert local_id(refs["runtime"]) != old
    ran = ran_tasks(pulled.stdout)
    assert "image:shop:stock" in ran and "push:shop:stock" in ran
    status, reason = steps(ws)["image:shop:stock"]
    assert status == "run" and f"base image changed: {refs['runtime']}" in reason
    report = (ws.build / "report" / "latest.html").read_text()
    assert f"base image changed: {refs['runtime']}" in report


@pytest.mark.parametrize(("runtime", "words"), [
    ("{host}/bases/nope:1", "{ref} is not an image its registry has for linux/amd64: "),
    ("127.0.0.1:9/bases/runtime:bookworm", "cannot reach the registry of {ref}: "),
])
def test_a_base_that_cannot_be_pulled_names_its_config_line(bases_registry, tmp_path,
                                                            runtime, words):
    registry, refs = bases_registry
    runtime = runtime.format(host=registry.host)
    ws = pulling_workspace(tmp_path, registry, runtime, refs["builder"])
    done = ws.doit("pipeline:shop", "skip_push=1", AXION_REGISTRY_PASSWORD=PASSWORD)
    out = done.stdout + done.stderr
    assert done.returncode != 0
    line = next(n for n, text in enumerate(ws.config_file.read_text().splitlines(), 1)
                if "base_runtime_image" in text)
    words = words.format(ref=runtime)
    assert f"config/shop.yaml:{line}: images.base_runtime_image: {words}" in out, out
    assert "Traceback" not in out
    assert not [t for t in ran_tasks(done.stdout) if t.startswith(("compile:", "image:"))]


TRIXIE_BASES = ("axion-base/trixie-runtime:latest", "axion-base/trixie-builder:latest")
IMPORT_CART = ("import os, sys, sysconfig; "
               "[sys.path.insert(0, d) for t in ('/axion/factory.util', '/axion/factory.shop') "
               "for d, _, _ in os.walk(t)]; "
               "import ObjCart; c = ObjCart.Cart(); c.add('tea', 2.0); "
               "print(sys.version_info[:2], ObjCart.__file__, c.total())")


def test_a_pulled_base_with_another_python_compiles_in_its_builder(bases_registry, tmp_path):
    """Bases of Debian trixie (Python 3.13, not the host's 3.11), bootstrapped here with
    `images.suite`, pushed, then pulled by a package that compiles in their builder."""
    registry, _ = bases_registry
    maker = make_workspace(tmp_path / "maker", "shop")
    with maker.config_file.open("a") as config:
        config.write(f"\nimages:\n  suite: trixie\n  base_runtime_image: {TRIXIE_BASES[0]}\n"
                     f"  base_image: {TRIXIE_BASES[1]}\n")
    maker.doit("base", check=True)
    refs = {"runtime": f"{registry.host}/bases/runtime:trixie",
            "builder": f"{registry.host}/bases/builder:trixie"}
    docker("login", "-u", "builder", "--password-stdin", registry.host, input_text=PASSWORD)
    try:
        for local, ref in zip(TRIXIE_BASES, refs.values()):
            docker("tag", local, ref)
            docker("push", ref)
            docker("image", "rm", ref)
    finally:
        docker("logout", registry.host)

    ws = pulling_workspace(tmp_path / "user", registry, refs["runtime"], refs["builder"])
    done = ws.doit("pipeline:shop", "skip_push=1", check=True, AXION_REGISTRY_PASSWORD=PASSWORD)
    assert "compile:shop:amd64:factory.shop/ObjCart.py" in ran_tasks(done.stdout)
    manifest = json.loads((ws.build / "linux-amd64" / "compiled.json").read_text())
    assert manifest["toolchain"] == "container"
    out = docker("run", "--rm", "axion-shop:shop", "python3", "-c", IMPORT_CART).stdout.split()
    assert out == ["(3,", "13)", "/axion/factory.shop/ObjCart.so", "2.3"]


def test_each_platform_gets_its_own_local_tag(bases_registry, tmp_path):
    """A base pulled for arm64 is tagged `<ref>-arm64`; `<ref>` keeps the native image,
    whichever platform is pulled first."""
    registry, refs = bases_registry
    ref = f"{registry.host}/bases/tiny:multi"
    (tmp_path / "Dockerfile").write_text("FROM scratch\nCOPY marker /marker\n")
    docker("login", "-u", "builder", "--password-stdin", registry.host, input_text=PASSWORD)
    try:
        for arch in ("amd64", "arm64"):
            (tmp_path / "marker").write_text(arch)
            docker("buildx", "build", "--platform", f"linux/{arch}", "--load", "-t",
                   f"{ref}-{arch}-src", str(tmp_path))
            docker("push", f"{ref}-{arch}-src")
        docker("buildx", "imagetools", "create", "-t", ref, f"{ref}-amd64-src",
               f"{ref}-arm64-src")
        for arch in ("amd64", "arm64"):
            docker("image", "rm", f"{ref}-{arch}-src")
    finally:
        docker("logout", registry.host)
    ws = pulling_workspace(tmp_path / "ws", registry, ref, refs["builder"])
    with ws.config_file.open("a") as config:
        config.write("\ndeployment:\n  platform: linux/amd64,linux/arm64\n")
    env = {"AXION_REGISTRY_PASSWORD": PASSWORD}
    for order in (("amd64", "arm64"), ("arm64", "amd64")):
        docker("image", "rm", ref, f"{ref}-arm64", check=False)
        for arch in order:
            ws.doit(f"base:pull-runtime-{arch}:{ref}", check=True, **env)
        arches = [docker("image", "inspect", "--format", "{{.Architecture}}", tag).stdout.strip()
                  for tag in (ref, f"{ref}-arm64")]
        assert arches == ["amd64", "arm64"], order


def test_a_wrong_registry_password_builds_here_and_says_so_once(bases_registry, base_images,
                                                                tmp_path):
    """A registry that refuses the credentials: the cache warns once, the image stage says
    once that it builds without the registry and that pushing will fail, and every image
    is built (no traceback, no `docker login failed` per image)."""
    registry, _ = bases_registry
    ws = make_workspace(tmp_path, "shop")
    with ws.config_file.open("a") as config:
        config.write(f"\nregistry:\n  url: {registry.host}\n  username: builder\n")
    provision(ws)
    done = ws.doit("pipeline:shop", "skip_push=1",
                   AXION_REGISTRY_PASSWORD="not-the-password-at-all")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "Traceback" not in output and "not-the-password-at-all" not in output
    assert output.count(f"cannot log in to {registry.host}") == 1, output
    assert "pushing will fail until registry.username and registry.password" in output
    assert {f"image:shop:{t}" for t in ("runtime", "shop", "stock", "caddy")} <= set(
        ran_tasks(done.stdout))
