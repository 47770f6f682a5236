"""The registry as a shared compile cache, against a real docker-registry and the real oras
CLI: what one machine pushes another takes; a tampered, truncated or mismatched artifact,
a registry that is not there or refuses, each means a warning and a local compile."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from pathlib import Path

import pytest

from axion_build.adapters.oras import oras_binary
from axion_build.adapters.registry import client_for
from axion_build.build import artifact
from axion_build.build.artifact import BadArtifact, Origin, module_key, shared_key
from axion_build.build.modcache import SharedCache, stamp_of
from axion_build.config.model import CacheSpec, CompileSpec, PackageConfig
from axion_build.names import module_cache_repository
from needs import missing, needs
from tests.registryd import Registry, crypt, free_port, start_registry

PASSWORD = "cache-registry-password-0123"
ORIGIN = Origin("11111111-2222-3333-4444-555555555555", "machine-a", "2026-12-02T00:00:00Z")
PLATFORM = "linux/amd64"

needs_oras = needs(bool(oras_binary()), "the oras CLI is not installed")


def so_bytes(seed: str, size: int = 4096) -> bytes:
    """Bytes that look like a shared object (ELF magic first)."""
    body = hashlib.sha256(seed.encode()).digest() * (size // 32)
    return artifact.ELF_MAGIC + body


def package(tmp_path: Path, registry: Registry, **cache) -> PackageConfig:
    return PackageConfig(name="cachepkg", path=tmp_path / "cachepkg.yaml", app_root=tmp_path,
                         build_root=tmp_path / "build", services=(),
                         compile=CompileSpec(("factory.x",)), registry=registry.spec(),
                         cache=CacheSpec(**cache))


def machine(tmp_path: Path, name: str, cfg: PackageConfig, modules: dict[str, bytes], *,
            pull: bool = True, push: bool = True) -> tuple[SharedCache, dict[str, Path]]:
    """One machine's cache session: its own work folder, one key per module."""
    root = tmp_path / name
    paths = {key: root / "modules" / f"{key[:8]}.so" for key in modules}
    cache = SharedCache(cfg, PLATFORM, pull=pull, push=push, work_dir=root / "fetched",
                        candidates=lambda: list(paths.items()))
    return cache, paths


def compile_here(cache: SharedCache, key: str, so_file: Path, content: bytes) -> None:
    """What a local compile leaves: the .so, then the cache's push of it."""
    so_file.parent.mkdir(parents=True, exist_ok=True)
    so_file.write_bytes(content)
    cache.give(key, so_file, f"factory.x/{key[:8]}.py", ORIGIN)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A registry of this module's own, and the folder it stores blobs in."""
    folder = tmp_path_factory.mktemp("cache-registry")
    process, url = start_registry(folder)
    yield Registry(url), folder / "data"
    process.terminate()
    process.wait(10)


@pytest.fixture
def registry(served):
    return served[0]


def blob_file(data_root: Path, digest: str) -> Path:
    hexdigest = digest.split(":", 1)[1]
    return data_root / "docker/registry/v2/blobs/sha256" / hexdigest[:2] / hexdigest / "data"


def test_keys_change_with_everything_that_changes_the_so(tmp_path):
    source = tmp_path / "factory.x" / "mod.py"
    source.parent.mkdir()
    source.write_text("x = 1\n")
    key = module_key("fp1", "mod", source)
    assert len(key) == 64 and key == module_key("fp1", "mod", source)
    assert module_key("fp2", "mod", source) != key  # toolchain, Cython, flags, platform
    assert module_key("fp1", "other", source) != key  # import name
    moved = tmp_path / "factory.y" / "mod.py"
    moved.parent.mkdir()
    moved.write_text("x = 1\n")
    assert module_key("fp1", "mod", moved) != key  # the path Cython writes into the C
    source.write_text("x = 2\n")
    assert module_key("fp1", "mod", source) != key  # the source
    assert shared_key("fp1", "_shared") != shared_key("fp2", "_shared")


def test_a_fetched_artifact_must_match_its_digests_and_record():
    body = so_bytes("m")
    layer = {"digest": "sha256:" + hashlib.sha256(body).hexdigest(), "size": len(body)}
    artifact.check_blob(layer, body)
    with pytest.raises(BadArtifact, match="truncated"):
        artifact.check_blob(layer, body[:-1])
    with pytest.raises(BadArtifact, match="does not match its digest"):
        artifact.check_blob(layer, body[:-1] + b"?")
    record = json.dumps(artifact.make_record("k", "m.py", PLATFORM, body, ORIGIN)).encode()
    assert artifact.check_record(record, body, "k", PLATFORM) == ORIGIN
    with pytest.raises(BadArtifact, match="another key"):
        artifact.check_record(record, body, "other", PLATFORM)
    with pytest.raises(BadArtifact, match="another key or platform"):
        artifact.check_record(record, body, "k", "linux/arm64")
    with pytest.raises(BadArtifact, match="not the one its record describes"):
        artifact.check_record(record, so_bytes("n"), "k", PLATFORM)
    with pytest.raises(BadArtifact, match="not a compiled module"):
        artifact.check_manifest({"artifactType": "application/vnd.oci.image.config.v1+json"},
                                "k")


@needs_oras
def test_what_one_machine_pushes_another_takes_with_who_built_it(registry, tmp_path):
    cfg = package(tmp_path, registry)
    modules = {hashlib.sha256(f"mod{i}".encode()).hexdigest(): so_bytes(f"mod{i}")
               for i in range(12)}
    a, a_paths = machine(tmp_path, "a", cfg, modules, pull=False)
    for key, content in modules.items():
        compile_here(a, key, a_paths[key], content)
    done = a.finish()
    assert done["pushed"] == 12 and not done["warnings"]
    tags = client_for(cfg.registry).all_tags(module_cache_repository(cfg))
    assert set(modules) <= tags

    b, b_paths = machine(tmp_path, "b", cfg, modules)
    requests_before = time.monotonic()
    for key, content in modules.items():
        origin, warning = b.take(key, b_paths[key])
        assert (origin, warning) == (ORIGIN, "")
        assert b_paths[key].read_bytes() == content
        assert stamp_of(b_paths[key]).read_text() == key
    assert time.monotonic() - requests_before < 30
    # every module was fetched by the background pool started at the first take
    assert len(b.fetches) == 0 and b.counts["fetched"] == 12
    assert b.finish()["pushed"] == 0  # nothing compiled here, nothing to give
    assert "built by run 11111111-2222-3333-4444-555555555555 on machine-a" in ORIGIN.describe()


@needs_oras
def test_tampered_truncated_or_mismatched_artifacts_are_compiled_here(served, tmp_path):
    registry, data_root = served
    cfg = package(tmp_path, registry)
    keys = [hashlib.sha256(f"bad{i}-{tmp_path}".encode()).hexdigest() for i in range(3)]
    modules = {key: so_bytes(key) for key in keys}
    a, a_paths = machine(tmp_path, "a", cfg, modules, pull=False)
    for key in keys:
        compile_here(a, key, a_paths[key], modules[key])
    assert a.finish()["pushed"] == 3
    client = client_for(cfg.registry)
    repository = module_cache_repository(cfg)
    layers = {key: artifact.layer_of(client.manifest(repository, key)[0], artifact.SO_TYPE)
              for key in keys}
    # 0: a flipped byte in the stored blob; 1: the blob cut short
    tampered = blob_file(data_root, layers[keys[0]]["digest"])
    content = bytearray(tampered.read_bytes())
    content[100] ^= 0xFF
    tampered.write_bytes(bytes(content))
    truncated = blob_file(data_root, layers[keys[1]]["digest"])
    truncated.write_bytes(truncated.read_bytes()[:-10])
    # 2: another key's artifact pushed under this key (its record names the other key)
    other = so_bytes("other")
    c, c_paths = machine(tmp_path, "c", cfg, {keys[2]: other}, pull=False)
    fake_record = artifact.make_record("f" * 64, "m.py", PLATFORM, other, ORIGIN)
    staging = tmp_path / "fake"
    staging.mkdir()
    (staging / "module.so").write_bytes(other)
    (staging / "record.json").write_text(json.dumps(fake_record))
    from axion_build.adapters.oras import push_artifact

    push_artifact(f"{cfg.registry.url}/{repository}:{keys[2]}", staging,
                  [("module.so", artifact.SO_TYPE), ("record.json", artifact.RECORD_TYPE)],
                  artifact.ARTIFACT_TYPE, {artifact.KEY_ANNOTATION: keys[2]}, plain_http=True)

    b, b_paths = machine(tmp_path, "b", cfg, modules)
    reasons = []
    for key in keys:
        origin, warning = b.take(key, b_paths[key])
        assert origin is None and not b_paths[key].exists()
        reasons.append(warning)
    assert "does not match its digest" in reasons[0]
    assert "truncated" in reasons[1]
    assert "another key" in reasons[2]
    assert all("compiled here" in r for r in reasons)
    # the local compiles are pushed again: the mismatched artifact is replaced; the
    # damaged blobs stay (the registry already has a blob of that digest, so it is not
    # sent again) and go on being refused, never used
    for key in keys:
        compile_here(b, key, b_paths[key], modules[key])
    assert b.finish()["pushed"] == 3
    d, d_paths = machine(tmp_path, "d", cfg, modules)
    assert d.take(keys[2], d_paths[keys[2]]) == (ORIGIN, "")
    assert d_paths[keys[2]].read_bytes() == modules[keys[2]]
    for key in keys[:2]:
        origin, warning = d.take(key, d_paths[key])
        assert origin is None and "compiled here" in warning and not d_paths[key].exists()


@needs_oras
def test_a_registry_that_is_not_there_means_local_work_and_one_warning(tmp_path, capsys):
    gone = Registry(f"http://127.0.0.1:{free_port()}")
    cfg = package(tmp_path, gone)
    modules = {"a" * 64: so_bytes("a"), "b" * 64: so_bytes("b")}
    cache, paths = machine(tmp_path, "a", cfg, modules)
    started = time.monotonic()
    for key, content in modules.items():
        assert cache.take(key, paths[key]) == (None, "")
        compile_here(cache, key, paths[key], content)
    done = cache.finish()
    assert time.monotonic() - started < 20
    assert done["pushed"] == 0 and done["fetched"] == 0
    assert len([w for w in done["warnings"] if "cannot read" in w]) == 1
    assert "compiling here" in capsys.readouterr().err


@needs_oras
def test_credentials_are_used_and_a_refusal_is_a_warning(tmp_path):
    if crypt is None:
        missing("no bcrypt hashing for the registry's htpasswd")
    hashed = crypt.crypt(PASSWORD, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))
    (tmp_path / "private").mkdir()
    process, url = start_registry(tmp_path / "private", f"builder:{hashed}\n")
    try:
        good = Registry(url, "builder", PASSWORD)
        modules = {"c" * 64: so_bytes("c")}
        a, a_paths = machine(tmp_path, "a", package(tmp_path, good), modules, pull=False)
        compile_here(a, "c" * 64, a_paths["c" * 64], modules["c" * 64])
        assert a.finish() == {"fetched": 0, "pushed": 1, "rejected": 0, "warnings": []}
        b, b_paths = machine(tmp_path, "b", package(tmp_path, good), modules)
        assert b.take("c" * 64, b_paths["c" * 64]) == (ORIGIN, "")
        wrong = Registry(url, "builder", "not-the-password-at-all")
        c, c_paths = machine(tmp_path, "c", package(tmp_path, wrong), modules)
        assert c.take("c" * 64, c_paths["c" * 64]) == (None, "")
        compile_here(c, "c" * 64, c_paths["c" * 64], modules["c" * 64])
        done = c.finish()
        assert done["pushed"] == 0 and "401" in done["warnings"][0]
        assert PASSWORD not in json.dumps(done)
    finally:
        process.terminate()
        process.wait(10)


@needs_oras
def test_two_machines_writing_one_key_at_once_leave_one_valid_artifact(registry, tmp_path):
    cfg = package(tmp_path, registry)
    key = hashlib.sha256(f"race-{tmp_path}".encode()).hexdigest()
    content = so_bytes(key)
    caches = [machine(tmp_path, f"m{i}", cfg, {key: content}, pull=False) for i in range(2)]
    threads = [threading.Thread(target=compile_here, args=(c, key, p[key], content))
               for c, p in caches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [c.finish()["pushed"] for c, _ in caches] == [1, 1]
    reader, paths = machine(tmp_path, "reader", cfg, {key: content})
    origin, warning = reader.take(key, paths[key])
    assert origin == ORIGIN and warning == "" and paths[key].read_bytes() == content
