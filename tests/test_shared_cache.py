"""The registry as a shared compile cache, through the real pipeline: a second checkout with
nothing local takes every module from the registry, a one-module edit compiles that module
only, a damaged artifact is compiled again, and a registry that is gone means a correct
build with a warning."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from markupsafe import escape as html_escape
from registryd import Registry, served_registry

from axion_build.adapters.oras import oras_binary
from axion_build.adapters.registry import RegistryClient
from axion_build.build.artifact import SO_TYPE, layer_of
from axion_build.build.signkeys import provision_cosign_keys
from needs import needs
from workspace import give_team_keys, ran_tasks, registry_workspace

pytestmark = [pytest.mark.e2e,
              needs(bool(oras_binary()), "the oras CLI is not installed")]


@pytest.fixture
def private_registry(tmp_path):
    """A registry of the test's own (its blobs may be damaged on purpose)."""
    with served_registry(tmp_path / "registry") as served:
        yield served


def machine(tmp_path: Path, name: str, registry: Registry):
    """A checkout of the shop app of its own, whose registry is the test's, holding the
    team's cosign key pair (made once per test): what one signs the others trust."""
    ws = registry_workspace(tmp_path / name, registry.host)
    give_team_keys(ws, tmp_path / "team-keys")
    return ws


def compiles(ws) -> dict[str, str]:
    """Module → compile status of the workspace's last recorded run."""
    with sqlite3.connect(ws.root / "build" / "records.sqlite3") as db:
        guid = db.execute("SELECT BuildGuid FROM log_build_run ORDER BY StartTime DESC "
                          "LIMIT 1").fetchone()[0]
        rows = db.execute("SELECT Module, CompileStatus FROM log_build_compile WHERE "
                          "BuildGuid = ?", (guid,)).fetchall()
    return dict(rows)


def worked(statuses: dict[str, str]) -> dict[str, str]:
    """The modules of a run that were not up to date."""
    return {module: status for module, status in statuses.items() if status != "up-to-date"}


def modules_of(ws) -> dict[str, str]:
    """sha256 of every compiled module in the workspace's published tree."""
    tree = ws.build / "linux-amd64" / "compiled"
    return {p.relative_to(tree).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(tree.rglob("*.so"))}


def inspect(ws, verb: str) -> str:
    """`axion explain|summary shop` in the workspace."""
    done = subprocess.run([sys.executable, "-c", INSPECT, verb], cwd=ws.root, env=ws.env(),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


INSPECT = ("import sys\nfrom axion_build.records.inspect import inspect_command\n"
           "sys.exit(inspect_command(sys.argv[1], 'shop'))")


def pipeline(ws, **env: str):
    """The pipeline up to the images, pushing to the compile cache only."""
    return ws.doit("pipeline:shop", "skip_push=1", check=True, AXION_CACHE_PUSH="1", **env)


def test_a_second_machine_takes_every_module_from_the_registry(tmp_path, private_registry):
    registry, data, process = private_registry
    a = machine(tmp_path, "a", registry)
    pipeline(a)
    assert set(compiles(a).values()) == {"compiled"}
    built_here = modules_of(a)
    assert len(built_here) >= 4

    b = machine(tmp_path, "b", registry)
    done = pipeline(b)
    statuses = compiles(b)
    assert set(statuses.values()) == {"registry-cache"}, statuses
    assert len(statuses) == len(compiles(a))
    assert modules_of(b) == built_here
    assert "WARNING" not in done.stderr
    summary = json.loads(inspect(b, "summary"))
    assert summary["compile"]["from_cache"] == len(statuses)
    explained = inspect(b, "explain")
    assert f"{len(statuses)} of " in explained and "from the registry cache" in explained
    assert "built by run " in explained and " on " in explained

    # a one-module edit on B compiles that module only, and gives it to the registry
    edited = b.app / "factory.util" / "ObjMath.py"
    edited.write_text(edited.read_text() + "\nEDITED_ON_B = 1\n")
    pipeline(b)
    assert worked(compiles(b)) == {"factory.util/ObjMath.py": "compiled"}
    # ...so A takes it after the same edit
    (a.app / "factory.util" / "ObjMath.py").write_text(edited.read_text())
    pipeline(a)
    assert worked(compiles(a)) == {"factory.util/ObjMath.py": "registry-cache"}
    assert modules_of(a) == modules_of(b)

    # a damaged blob in the registry: C refuses it, compiles that module and warns
    client = RegistryClient(registry.url)
    repository = "team/shop.modules"
    key = (a.build / "linux-amd64" / "modules" / "factory.shop" / "ObjCart.so.key").read_text()
    assert key in client.all_tags(repository)
    layer = layer_of(client.manifest(repository, key)[0], SO_TYPE)
    hexdigest = layer["digest"].split(":", 1)[1]
    blob = data / "docker/registry/v2/blobs/sha256" / hexdigest[:2] / hexdigest / "data"
    damaged = bytearray(blob.read_bytes())
    damaged[64] ^= 0xFF
    blob.write_bytes(bytes(damaged))
    c = machine(tmp_path, "c", registry)
    (c.app / "factory.util" / "ObjMath.py").write_text(edited.read_text())
    done = pipeline(c)
    statuses = compiles(c)
    assert statuses.pop("factory.shop/ObjCart.py") == "compiled"
    assert set(statuses.values()) == {"registry-cache"}, statuses
    assert "does not match its digest" in done.stderr
    assert modules_of(c) == modules_of(a)

    # the registry gone: D compiles everything here, warns once, and succeeds
    process.terminate()
    process.wait(10)
    d = machine(tmp_path, "d", registry)
    (d.app / "factory.util" / "ObjMath.py").write_text(edited.read_text())
    done = pipeline(d)
    assert set(compiles(d).values()) == {"compiled"}
    assert done.stderr.count("cannot read") == 1
    assert modules_of(d) == modules_of(a)
    assert "compile:shop:amd64" in ran_tasks(done.stdout)


def test_a_planted_module_is_compiled_here_replaced_and_never_shipped(tmp_path,
                                                                       private_registry):
    """Someone who can push to the registry but holds no key plants a module, with a record
    that agrees with itself, under a real module's key: a fresh checkout warns once,
    compiles that module, and its push replaces the entry with one the team's key signed."""
    from axion_build.adapters.cosign import run_cosign, sign_command
    from axion_build.adapters.oras import push_artifact
    from axion_build.build.artifact import (
        ARTIFACT_TYPE,
        KEY_ANNOTATION,
        RECORD_TYPE,
        Origin,
        make_record,
    )

    registry, _, _ = private_registry
    a = machine(tmp_path, "a", registry)
    pipeline(a)
    built_here = modules_of(a)
    key = (a.build / "linux-amd64" / "modules" / "factory.shop" / "ObjCart.so.key").read_text()
    forged = (a.build / "linux-amd64" / "compiled" / "factory.util" / "ObjMath.so").read_bytes()
    staging = tmp_path / "forged"
    staging.mkdir()
    (staging / "module.so").write_bytes(forged)
    record = make_record(key, "factory.shop/ObjCart.py", "linux/amd64", forged,
                         Origin("forged-run", "attacker-host", "2026-12-01T00:00:00Z"))
    (staging / "record.json").write_text(json.dumps(record))
    ref = f"{registry.host}/team/shop.modules"
    digest = push_artifact(f"{ref}:{key}", staging, [("module.so", SO_TYPE),
                                                     ("record.json", RECORD_TYPE)],
                           ARTIFACT_TYPE, {KEY_ANNOTATION: key}, plain_http=True)
    provision_cosign_keys(tmp_path / "attacker", "evil", "")
    run_cosign(sign_command(tmp_path / "attacker" / "evil_cosign.key", f"{ref}@{digest}",
                            True), "")

    b = machine(tmp_path, "b", registry)
    done = pipeline(b)
    statuses = compiles(b)
    assert statuses.pop("factory.shop/ObjCart.py") == "compiled"
    assert set(statuses.values()) == {"registry-cache"}, statuses
    assert done.stderr.count("not made by a trusted key") == 1
    assert "forged-run" not in done.stdout + done.stderr
    assert modules_of(b) == built_here
    c = machine(tmp_path, "c", registry)
    pipeline(c)
    assert set(compiles(c).values()) == {"registry-cache"}
    assert modules_of(c) == built_here


def test_a_registry_that_dies_mid_run_is_a_warning_printed_and_reported(tmp_path,
                                                                         private_registry):
    registry, _, process = private_registry
    ws = machine(tmp_path, "a", registry)
    line = [sys.executable, "-m", "doit", "run", "-f", str(ws.tool / "dodo.py"), "-d",
            str(ws.root), "--backend", "sqlite3", "--db-file",
            str(ws.root / "build" / ".doit.sqlite3"), "compile:shop", "report:shop",
            "skip_push=1"]
    run = subprocess.Popen(line, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                           env=ws.env(AXION_CACHE_PUSH="1"))
    out, started = [], 0
    for text in run.stdout:
        out.append(text)
        started += text.startswith(".  compile:shop:amd64:")
        if started == 2 and process.poll() is None:
            process.kill()  # the first module was taken or pushed; the rest meet no registry
            process.wait(10)
    assert run.wait(600) == 0, "".join(out)
    printed = [t.removeprefix("axion: WARNING: ").strip() for t in out
               if t.startswith("axion: WARNING: registry cache: ")]
    assert printed and len(printed) == len(set(printed)), "".join(out)
    assert any(f"{registry.host}/team/shop.modules" in p for p in printed), printed
    summary = json.loads((ws.build / "report" / "summary.json").read_text())
    assert summary["warnings"] == printed
    html = (ws.build / "report" / "latest.html").read_text()
    assert "<h2>Warnings</h2>" in html
    assert all(str(html_escape(p)) in html for p in printed), printed
