"""Two machines sharing only a registry: machine A is this engine with its own checkout;
machine B is a second Docker engine, reached only through a docker context, with a
checkout and a machine cache (`AXION_CACHE`: ccache, root filesystems) of its own.

After A's pipeline, B's compiles no module and builds no image; a one-module edit on B
compiles that module only and rebuilds only the images it feeds; B's next run is a no-op
(`expect_noop=1`); and B's compiled modules import in B's own image."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3

import pytest
from engine2 import start_engine, stop_engine
from registryd import Registry, served_registry

from axion_build.adapters.oras import oras_binary
from axion_build.build.signkeys import cosign_key_paths
from needs import needs
from workspace import registry_workspace

pytestmark = [pytest.mark.e2e,
              needs(bool(oras_binary()), "the oras CLI is not installed")]


@pytest.fixture
def engine_b():
    engine = start_engine()
    yield engine
    stop_engine(engine)


@pytest.fixture
def registry(tmp_path):
    with served_registry(tmp_path / "registry") as (served, _, _):
        yield served


def checkout(tmp_path, name: str, registry: Registry):
    return registry_workspace(tmp_path / name, registry.host)


def share_signing_keys(source, dest) -> None:
    """Give `dest` the cosign key pair of `source`, as a team sharing a registry does:
    with a pair of its own (and `source`'s public key not in its cache.trusted_keys),
    `dest` would take nothing `source` signed and build it all again."""
    pairs = (cosign_key_paths(ws.app / "data.config", ws.package) for ws in (source, dest))
    for held, given in zip(*pairs, strict=True):
        shutil.copy2(held, given)


def last_run(ws) -> tuple[dict[str, str], dict[str, tuple[str, dict]]]:
    """(module → compile status, task → (status, saved values)) of the last run."""
    with sqlite3.connect(ws.root / "build" / "records.sqlite3") as db:
        guid = db.execute("SELECT BuildGuid FROM log_build_run ORDER BY StartTime DESC "
                          "LIMIT 1").fetchone()[0]
        modules = dict(db.execute("SELECT Module, CompileStatus FROM log_build_compile "
                                  "WHERE BuildGuid = ?", (guid,)).fetchall())
        rows = db.execute("SELECT Task, Status, Detail FROM log_build_step WHERE BuildGuid = ?",
                          (guid,)).fetchall()
    steps = {task: (status, json.loads(detail).get("values", {}) if detail else {})
             for task, status, detail in rows}
    return modules, steps


def worked(statuses: dict[str, str]) -> dict[str, str]:
    """The modules of a run that were not up to date."""
    return {module: status for module, status in statuses.items() if status != "up-to-date"}


PROBE = ("import sys; sys.path[:0] = ['/axion/factory.util', '/axion/factory.shop']; "
         "import ObjMath; print(ObjMath.__file__, ObjMath.EDITED_ON_B)")
IMAGES = ("runtime", "shop", "stock", "caddy")


def test_machine_b_builds_nothing_machine_a_built(tmp_path, registry, engine_b):
    a = checkout(tmp_path, "a", registry)
    a.doit("pipeline:shop", check=True)
    modules_a, _ = last_run(a)

    b = checkout(tmp_path, "b", registry)
    share_signing_keys(a, b)
    b_env = {**engine_b.env(), "AXION_CACHE": str(tmp_path / "cache-b")}
    done = b.doit("pipeline:shop", check=True, **b_env)
    modules, steps = last_run(b)
    assert set(modules.values()) == {"registry-cache"} and modules.keys() == modules_a.keys()
    # the bases came from the registry: nothing bootstrapped on B
    assert done.stdout.count("pulled from") == 2 and "debootstrap" not in done.stdout
    assert not (tmp_path / "cache-b" / "rootfs").exists() or not list(
        (tmp_path / "cache-b" / "rootfs").glob("*.tar"))
    for target in IMAGES:
        status, values = steps[f"image:shop:{target}"]
        # taken by the digest that verified, never by a tag that may move
        assert status == "run" and re.fullmatch(
            rf".+/team/shop-{target}@sha256:[0-9a-f]{{64}}", values.get("remote", "")), (
            target, values)
        assert steps[f"push:shop:{target}"][0] == "up-to-date"
    # nothing was built or pulled into B's engine
    assert engine_b.docker("image", "ls", "-q", "axion-shop").stdout.strip() == ""

    # a one-module edit on B: that module compiles, the images it feeds build on B
    edited = b.app / "factory.util" / "ObjMath.py"
    edited.write_text(edited.read_text() + "\nEDITED_ON_B = 1\n")
    b.doit("pipeline:shop", check=True, **b_env)
    modules, steps = last_run(b)
    assert worked(modules) == {"factory.util/ObjMath.py": "compiled"}
    assert steps["image:shop:caddy"][0] == "up-to-date"
    for target in ("runtime", "shop", "stock"):
        assert steps[f"image:shop:{target}"][0] == "run"
        assert "remote" not in steps[f"image:shop:{target}"][1]
    imported = engine_b.docker("run", "--rm", "--network", "none", "--entrypoint", "python",
                               "axion-shop:stock", "-c", PROBE, check=False)
    assert imported.stdout.split() == ["/axion/factory.util/ObjMath.so", "1"], imported.stderr

    # and nothing is left to do: the CI gate passes on B
    gate = b.doit("pipeline:shop", "expect_noop=1", **b_env)
    assert gate.returncode == 0, gate.stdout + gate.stderr


def test_a_container_compile_on_engine_b_shares_no_folder_with_it(tmp_path, registry, engine_b,
                                                                  monkeypatch):
    """The builder-image compile sends the C file in and the module back through the
    engine: nothing is mounted, so an engine that sees none of this host's folders works."""
    from axion_build.build.cc import c_compile
    from axion_build.build.compile import cythonize_one
    from axion_build.build.toolchain import Toolchain, probe_image

    a = checkout(tmp_path, "a", registry)
    a.doit("base", check=True)  # A gives its bases to the registry, signed
    b = checkout(tmp_path, "b", registry)
    share_signing_keys(a, b)  # B trusts what A signed
    b.doit("base", check=True, **engine_b.env(), AXION_CACHE=str(tmp_path / "cache-b"))
    monkeypatch.setenv("DOCKER_CONTEXT", engine_b.context)
    builder = "axion-base/bookworm-builder:latest"
    interpreter = probe_image(builder, "linux/amd64", tmp_path / "probe")
    source = tmp_path / "Sample.py"
    source.write_text("def triple(x):\n    return 3 * x\n")
    c_file, so_file = tmp_path / "c" / "Sample.c", tmp_path / "out" / "Sample.so"
    assert cythonize_one(source, c_file, "Sample", {"language_level": 3}, shared=False) == ""
    toolchain = Toolchain(platform="linux/amd64", kind="container", interpreter=interpreter,
                          builder_image=builder)
    assert c_compile(toolchain, c_file, so_file, ("-O2",)) == ""
    assert so_file.read_bytes()[:4] == b"\x7fELF"
    (tmp_path / "out" / "probe.py").write_text("import Sample; print(Sample.triple(14))\n")
    ran = engine_b.docker("run", "--rm", "-i", "--network", "none", "--entrypoint", "sh",
                          builder, "-c", "mkdir /m && tar -x -C /m && cd /m && python3 probe.py",
                          check=False, input_bytes=tar_of(tmp_path / "out"))
    assert ran.stdout.strip() == "42", ran.stderr
    # a compiler error comes back as the compiler's own words
    (tmp_path / "c" / "Broken.c").write_text("int broken( {\n")
    error = c_compile(toolchain, tmp_path / "c" / "Broken.c", tmp_path / "out" / "Broken.so",
                      ("-O2",))
    assert "Broken.c" in error and "error" in error
    assert not (tmp_path / "out" / "Broken.so").exists()


def tar_of(folder) -> bytes:
    import io
    import tarfile

    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as archive:
        for path in sorted(folder.iterdir()):
            archive.add(path, arcname=path.name)
    return out.getvalue()
