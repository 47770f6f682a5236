"""The registry as a shared compile cache, against a real docker-registry and the real oras
CLI: what one machine pushes another takes; a tampered, truncated or mismatched artifact,
a registry that is not there or refuses, each means a warning and a local compile."""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from axion_build.adapters.oras import oras_binary
from axion_build.adapters.registry import client_for
from axion_build.build import artifact
from axion_build.build.artifact import BadArtifact, Origin, module_key, shared_key
from axion_build.build.modcache import SharedCache, stamp_of
from axion_build.build.signkeys import provision_cosign_keys
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
    """The package of every machine of a test: one cosign key pair in its data.config/."""
    provision_cosign_keys(tmp_path / "data.config", "cachepkg", "")
    return PackageConfig(name="cachepkg", path=tmp_path / "cachepkg.yaml", app_root=tmp_path,
                         build_root=tmp_path / "build", services=(),
                         compile=CompileSpec(("factory.x",)), registry=registry.spec(),
                         cache=CacheSpec(**cache))


SIGNED = replace(ORIGIN, signer="cachepkg_cosign.pub")  # an entry taken, as the taker says


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
        assert (origin, warning) == (SIGNED, "")
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
    from axion_build.adapters.cosign import run_cosign, sign_command
    from axion_build.adapters.oras import push_artifact

    ref = f"{cfg.registry.url}/{repository}"
    digest = push_artifact(f"{ref}:{keys[2]}", staging,
                           [("module.so", artifact.SO_TYPE), ("record.json", artifact.RECORD_TYPE)],
                           artifact.ARTIFACT_TYPE, {artifact.KEY_ANNOTATION: keys[2]},
                           plain_http=True)
    # signed with the package's key, still refused: its record is for another key
    run_cosign(sign_command(tmp_path / "data.config" / "cachepkg_cosign.key",
                            f"{ref}@{digest}", True), "")

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
    for reason, key in zip(reasons[:2], keys[:2], strict=True):
        blob = layers[key]["digest"].removeprefix("sha256:")
        assert "not pushed: the registry keeps a blob it has, so pushing cannot mend it" in reason
        assert f"removes docker/registry/v2/blobs/sha256/{blob[:2]}/{blob}" in reason
    # the local compiles are pushed again where that mends the entry: the mismatched
    # artifact is replaced; a damaged blob stays (the registry keeps a blob of that digest),
    # so those are not pushed, and this build folder leaves them alone for a day
    for key in keys:
        compile_here(b, key, b_paths[key], modules[key])
    assert b.finish()["pushed"] == 1
    d, d_paths = machine(tmp_path, "d", cfg, modules)
    assert d.take(keys[2], d_paths[keys[2]]) == (SIGNED, "")
    assert d_paths[keys[2]].read_bytes() == modules[keys[2]]
    for key in keys[:2]:
        assert d.take(key, d_paths[key]) == (None, "")  # said once, not asked again
        assert not d_paths[key].exists()
    assert not d.warnings
    # another build folder (a fresh runner) meets them once itself
    (tmp_path / "fresh").mkdir()
    shutil.copytree(tmp_path / "data.config", tmp_path / "fresh" / "data.config")
    fresh = package(tmp_path / "fresh", registry)
    e, e_paths = machine(tmp_path, "e", fresh, modules)
    origin, warning = e.take(keys[0], e_paths[keys[0]])
    assert origin is None and "pushing cannot mend it" in warning


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
        assert a.finish() == {"fetched": 0, "pushed": 1, "signed": 1, "rejected": 0,
                              "warnings": []}
        b, b_paths = machine(tmp_path, "b", package(tmp_path, good), modules)
        assert b.take("c" * 64, b_paths["c" * 64]) == (SIGNED, "")
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
    assert origin == SIGNED and warning == "" and paths[key].read_bytes() == content


def plant(cfg: PackageConfig, tmp_path: Path, key: str, content: bytes,
          attacker_key: Path | None) -> str:
    """What someone who can push to the registry but holds no key of the package does: a
    self-consistent artifact (right key, platform, sha256 and size) under `key`, signed
    with a key of their own when given; its digest."""
    from axion_build.adapters.cosign import run_cosign, sign_command
    from axion_build.adapters.oras import push_artifact

    staging = tmp_path / f"forged-{key[:8]}"
    staging.mkdir()
    (staging / "module.so").write_bytes(content)
    forged = Origin("forged-run", "attacker-host", "2026-12-01T00:00:00Z")
    record = artifact.make_record(key, "factory.x/portmap.py", PLATFORM, content, forged)
    (staging / "record.json").write_text(json.dumps(record))
    ref = f"{cfg.registry.url}/{module_cache_repository(cfg)}"
    digest = push_artifact(f"{ref}:{key}", staging,
                           [("module.so", artifact.SO_TYPE), ("record.json", artifact.RECORD_TYPE)],
                           artifact.ARTIFACT_TYPE, {artifact.KEY_ANNOTATION: key},
                           plain_http=True)
    if attacker_key is not None:
        run_cosign(sign_command(attacker_key, f"{ref}@{digest}", True), "")
    return digest


@needs_oras
def test_a_planted_module_is_never_used_and_the_local_push_replaces_it(registry, tmp_path):
    cfg = package(tmp_path, registry)
    attacker = tmp_path / "attacker"
    provision_cosign_keys(attacker, "evil", "")
    keys = [hashlib.sha256(f"planted{i}-{tmp_path}".encode()).hexdigest() for i in range(2)]
    real = {key: so_bytes(f"real-{key}") for key in keys}
    plant(cfg, tmp_path, keys[0], so_bytes("forged-0"), None)  # unsigned
    plant(cfg, tmp_path, keys[1], so_bytes("forged-1"), attacker / "evil_cosign.key")

    b, b_paths = machine(tmp_path, "b", cfg, real)
    reasons = []
    for key in keys:
        origin, warning = b.take(key, b_paths[key])
        assert origin is None and not b_paths[key].exists()
        reasons.append(warning)
        compile_here(b, key, b_paths[key], real[key])
    assert "it is not signed" in reasons[0] and "compiled here" in reasons[0]
    assert "not made by a trusted key; trusted: cachepkg_cosign.pub" in reasons[1]
    done = b.finish()
    assert done["rejected"] == 2 and done["pushed"] == 2 and done["signed"] == 2

    c, c_paths = machine(tmp_path, "c", cfg, real)
    for key in keys:
        origin, warning = c.take(key, c_paths[key])
        assert (origin, warning) == (SIGNED, "")
        assert c_paths[key].read_bytes() == real[key]


@needs_oras
def test_a_key_listed_in_trusted_keys_is_trusted_and_only_there(registry, tmp_path):
    ci_root, laptop_root, other_root = (tmp_path / n for n in ("ci", "laptop", "other"))
    for root in (ci_root, laptop_root, other_root):
        root.mkdir()
    ci = package(ci_root, registry)
    key = hashlib.sha256(f"ci-built-{tmp_path}".encode()).hexdigest()
    content = so_bytes(key)
    a, a_paths = machine(ci_root, "a", ci, {key: content}, pull=False)
    compile_here(a, key, a_paths[key], content)
    assert a.finish()["signed"] == 1

    laptop = package(laptop_root, registry,
                     trusted_keys=(ci_root / "data.config" / "cachepkg_cosign.pub",))
    b, b_paths = machine(laptop_root, "b", laptop, {key: content}, push=False)
    origin, warning = b.take(key, b_paths[key])
    assert warning == "" and origin is not None and origin.signer == "cachepkg_cosign.pub"
    assert b_paths[key].read_bytes() == content
    # a checkout with a key of its own that does not list CI's compiles it itself
    other = package(other_root, registry)
    c, c_paths = machine(other_root, "c", other, {key: content}, push=False)
    origin, warning = c.take(key, c_paths[key])
    assert origin is None and "not made by a trusted key" in warning


@needs_oras
def test_a_run_signs_its_pushes_together_in_process(registry, tmp_path, monkeypatch):
    """After its last push a run signs every entry it pushed, in this process: no cosign
    process at all, and each signature is one the registry's readers accept."""
    from axion_build.adapters import cosign
    from axion_build.adapters.signatures import signer
    from axion_build.build.signkeys import trusted_keys

    def no_process(*args, **kwargs):
        raise AssertionError("a cosign process was started")

    cfg = package(tmp_path, registry)  # cosign makes the key pair
    monkeypatch.setattr(cosign, "run_cosign", no_process)
    monkeypatch.setattr(cosign, "cosign_binary", no_process)
    modules = {hashlib.sha256(f"batch{i}-{tmp_path}".encode()).hexdigest(): so_bytes(f"b{i}")
               for i in range(10)}
    a, a_paths = machine(tmp_path, "a", cfg, modules, pull=False)
    for key, content in modules.items():
        compile_here(a, key, a_paths[key], content)
    done = a.finish()
    assert done["pushed"] == 10 and done["signed"] == 10 and not done["warnings"]
    assert not (tmp_path / "a" / "cache-unsigned.txt").exists()
    client, repository = client_for(cfg.registry), module_cache_repository(cfg)
    for key in modules:
        digest = client.manifest(repository, key)[1]
        assert signer(client, repository, digest, trusted_keys(cfg))[0] is not None


def test_damaged_entries_are_left_alone_for_a_day(tmp_path):
    from axion_build.build.cachedamage import KEEP_SECONDS, load_damaged, remember_damaged

    path = tmp_path / "damaged.json"
    assert load_damaged(path) == {}
    remember_damaged(path, "k1", "sha256:" + "a" * 64, "r/x.modules")
    remember_damaged(path, "k2", "sha256:" + "b" * 64, "r/x.modules")
    seen = load_damaged(path)
    assert set(seen) == {"k1", "k2"} and seen["k1"]["blob"] == "sha256:" + "a" * 64
    later = seen["k1"]["seen"] + KEEP_SECONDS + 1
    assert load_damaged(path, now=later) == {}
    path.write_text("not json")
    assert load_damaged(path) == {}
