"""Reproducible images: one commit built on two machines gives the same image digests.

Machines B and C are two Docker 26 engines with the containerd image store (trixie's
dockerd, which `./run provision tests` unpacks), each with a checkout and a machine
cache of its own. They share the registry only for the bases, which machine A (this
engine) bootstrapped: the bases are inputs, pinned by the registry's digests. With the
registry cache off both ways, each compiles every module and builds every image itself.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess

import pytest
from engine2 import newer_dockerd, start_engine, stop_engine
from registryd import served_registry

from axion_build.adapters.oras import oras_binary
from axion_build.build.reproducible import reproducible_verdict
from needs import needs
from workspace import give_team_keys, registry_workspace

IMAGES = ("latest", "shop", "stock", "caddy")
COLD = {"AXION_CACHE_PULL": "0", "AXION_CACHE_PUSH": "0"}


def test_only_an_engine_that_can_rewrite_timestamps_into_containerd_builds_reproducibly():
    assert "Docker 20.10.24 builds with a BuildKit" in reproducible_verdict("20.10.24", "[]")
    kept = reproducible_verdict("26.1.5", '[["Root Dir", "/var/lib/docker"]]')
    assert "containerd-snapshotter" in kept and "daemon.json" in kept
    assert reproducible_verdict("26.1.5", '[["driver-type", "io.containerd.snapshotter.v1"]]') \
        == ""
    assert "unknown" in reproducible_verdict("", "")


def commit(ws, when: str = "2026-11-30T12:00:00+00:00") -> int:
    """Make the workspace a git checkout of one commit made at `when`; its unix time."""
    env = {"GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when, "GIT_AUTHOR_NAME": "t",
           "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "PATH": "/usr/bin:/bin"}
    for line in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "app"]):
        subprocess.run(["git", "-C", str(ws.root), *line], check=True, env=env,
                       capture_output=True)
    return int(subprocess.run(["git", "-C", str(ws.root), "log", "-1", "--format=%ct"],
                              check=True, capture_output=True, text=True).stdout)


def image_steps(ws) -> dict[str, dict]:
    """task → saved values of each image step of the workspace's last run."""
    with sqlite3.connect(ws.root / "build" / "records.sqlite3") as db:
        guid = db.execute("SELECT BuildGuid FROM log_build_run ORDER BY StartTime DESC "
                          "LIMIT 1").fetchone()[0]
        rows = db.execute("SELECT Task, Detail FROM log_build_step WHERE BuildGuid = ? AND "
                          "Stage = 'image'", (guid,)).fetchall()
    return {task: json.loads(detail).get("values", {}) if detail else {}
            for task, detail in rows}


@pytest.mark.e2e
@needs(bool(oras_binary()), "the oras CLI is not installed")
@needs(newer_dockerd() is not None, "no dockerd 26: ./run provision tests")
def test_one_commit_on_two_machines_gives_the_same_image_digests(tmp_path):
    with served_registry(tmp_path / "registry") as (registry, _, _):
        a = registry_workspace(tmp_path / "a", registry.host)
        give_team_keys(a, tmp_path / "team-keys")  # B and C trust what A signs
        a.doit("base", check=True)  # A gives its bases to the registry
        # this engine cannot: the run says so once and records it per image
        done = a.doit("image:shop:runtime", "image:shop:shop", check=True, **COLD)
        said = done.stderr.count("images of shop are not reproducible: Docker 20.")
        assert said == 1, done.stderr
        steps = image_steps(a)
        assert steps["image:shop:runtime"]["reproducible"] is False
        assert "rewrite layer timestamps" in steps["image:shop:runtime"]["not_reproducible"]

        engines = []
        try:  # each engine stopped, its context removed, even when the second fails to start
            for _ in range(2):
                engines.append(start_engine(newer_dockerd(), containerd_store=True, nat=True))
            ids = []
            for name, engine in zip("bc", engines, strict=True):
                ws = registry_workspace(tmp_path / name, registry.host)
                give_team_keys(ws, tmp_path / "team-keys")
                epoch = commit(ws)
                env = {**engine.env(), "AXION_CACHE": str(tmp_path / f"cache-{name}")}
                ws.doit("base", check=True, **env)  # pulled from the registry
                ws.doit("pipeline:shop", "skip_push=1", check=True, **env, **COLD)
                steps = image_steps(ws)
                for target in ("runtime", "shop", "stock", "caddy"):
                    values = steps[f"image:shop:{target}"]
                    assert values.get("reproducible") is True, (name, target, values)
                    assert "remote" not in values  # built there, not taken from anywhere
                inspected = [json.loads(engine.docker("image", "inspect",
                                                      f"axion-shop:{tag}").stdout)[0]
                             for tag in IMAGES]
                assert {i["Created"] for i in inspected} == {
                    subprocess.run(["date", "-u", "-d", f"@{epoch}", "+%Y-%m-%dT%H:%M:%SZ"],
                                   capture_output=True, text=True).stdout.strip()}
                ids.append({tag: i["Id"] for tag, i in zip(IMAGES, inspected, strict=True)})
            assert ids[0] == ids[1]
            # and the compiled module in them is the same code, run by each engine
            probe = ("import sys; sys.path[:0] = ['/axion/factory.util', '/axion/factory.shop'];"
                     " import ObjMath; print(ObjMath.__file__)")
            for engine in engines:
                ran = engine.docker("run", "--rm", "--network", "none", "--entrypoint",
                                    "python", "axion-shop:stock", "-c", probe, check=False)
                assert ran.stdout.strip() == "/axion/factory.util/ObjMath.so", ran.stderr
        finally:
            for engine in engines:
                stop_engine(engine)
