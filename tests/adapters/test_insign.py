"""Signing and attesting in process, checked by the real cosign: images pushed to registries
of our own on loopback, keys made by `cosign generate-key-pair`, then `cosign verify` and
`cosign verify-attestation` must pass, and so must this project's in-process checks."""

from __future__ import annotations

import base64
import dataclasses
import json
import shutil
import warnings

import pytest

from axion_build.adapters.cosign import (
    CosignError,
    attest_command,
    generate_command,
    run_cosign,
    sign_command,
    verify_attestation_command,
    verify_command,
)
from axion_build.adapters.cosignkey import load_signing_key
from axion_build.adapters.insign import SigningJob, attestation, repository_in, sign_many
from axion_build.adapters.oras import push_artifact
from axion_build.adapters.registry import RegistryClient, RegistryError
from axion_build.adapters.registrywrite import RegistryWriter, digest_of
from axion_build.adapters.sigformat import OCI_CONFIG, config_for, manifest_for
from axion_build.adapters.signatures import attested, read_manifest, signature_tag, signer
from axion_build.config.publickeys import load_public_key
from tests.registryd import Registry, start_registry

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        import crypt
    except ImportError:
        crypt = None

pytestmark = pytest.mark.skipif(shutil.which("cosign") is None,
                                reason="no cosign CLI (scripts/provision.sh install_cosign)")
PASSWORD = "in-process-pw-4417"
SLSA, CDX = "https://slsa.dev/provenance/v0.2", "https://cyclonedx.org/bom"
PROVENANCE = {"builder": {"id": "axion-build test"},
              "buildType": "https://axion.build/pipeline/image@v1",
              "invocation": {"parameters": {"target": "web"}},
              "metadata": {"buildStartedOn": "2026-12-04T00:00:00Z"}, "materials": []}
SBOM = {"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
        "components": [{"type": "library", "name": "homechoice.web", "version": "1.0"}]}


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """{'ours': (private, public) with a password, 'cosigns': (private, public) without}."""
    folder = tmp_path_factory.mktemp("keys")
    run_cosign(generate_command("ours"), password=PASSWORD, cwd=folder)
    run_cosign(generate_command("cosigns"), password="", cwd=folder)
    return {name: (folder / f"{name}.key", folder / f"{name}.pub")
            for name in ("ours", "cosigns")}


@pytest.fixture(scope="module")
def key(keys):
    return load_signing_key(keys["ours"][0], PASSWORD)


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    process, url = start_registry(tmp_path_factory.mktemp("registry"))
    yield Registry(url)
    process.terminate()
    process.wait(10)


def writer_for(registry: Registry) -> RegistryWriter:
    return RegistryWriter(RegistryClient(registry.url, registry.username, registry.password))


def job(registry: Registry, repository: str, digest: str, provenance=PROVENANCE) -> SigningJob:
    return SigningJob(f"{registry.host}/{repository}", digest,
                      (attestation("slsaprovenance", provenance), attestation("cyclonedx", SBOM)))


def cosign_verifies(public, image: str) -> None:
    """The real cosign accepts the signature and both attestations of `image`."""
    run_cosign(verify_command(public, image, True))
    for kind in ("slsaprovenance", "cyclonedx"):
        run_cosign(verify_attestation_command(public, image, kind, True))


def layer_count(registry: Registry, repository: str, digest: str, suffix: str) -> int:
    manifest, _ = read_manifest(writer_for(registry).client, repository,
                                signature_tag(digest, suffix))
    return len(manifest.get("layers") or [])


def oras_image(registry: Registry, repository: str, folder) -> str:
    folder.mkdir()
    (folder / "module.so").write_bytes(b"\x7fELF module for signing")
    return push_artifact(f"{registry.host}/{repository}:v1", folder,
                         [("module.so", "application/vnd.axion.module")],
                         "application/vnd.axion.module.v1", {}, plain_http=True)


def test_many_images_signed_in_process_pass_cosign_and_the_in_process_checks(
        registry, keys, key, tmp_path):
    digests = {f"sign/svc{i}": registry.image(f"sign/svc{i}", "latest", "amd64",
                                              f"service {i}".encode())["digest"]
               for i in range(3)}
    digests["sign/modules"] = oras_image(registry, "sign/modules", tmp_path / "oras")
    jobs = [job(registry, repository, digest) for repository, digest in digests.items()]
    outcomes = sign_many(writer_for(registry), key, jobs)
    assert [o.error for o in outcomes] == [""] * 4 and [o.added for o in outcomes] == [3] * 4
    trusted = (load_public_key(keys["ours"][1]),)
    client = writer_for(registry).client
    for repository, digest in digests.items():
        cosign_verifies(keys["ours"][1], f"{registry.host}/{repository}@{digest}")
        assert signer(client, repository, digest, trusted)[0] == trusted[0]
        assert attested(client, repository, digest, trusted) == {SLSA: PROVENANCE, CDX: SBOM}
    other = (load_public_key(keys["cosigns"][1]),)
    assert signer(client, "sign/svc0", digests["sign/svc0"], other)[0] is None
    with pytest.raises(CosignError, match="no matching signatures"):  # not vacuous
        run_cosign(verify_command(keys["cosigns"][1],
                                  f"{registry.host}/sign/svc0@{digests['sign/svc0']}", True))


def test_signing_again_adds_no_layer_and_a_new_predicate_is_appended(registry, keys, key):
    digest = registry.image("sign/again", "latest", "amd64", b"again")["digest"]
    writer = writer_for(registry)
    first = sign_many(writer, key, [job(registry, "sign/again", digest)])[0]
    second = sign_many(writer, key, [job(registry, "sign/again", digest)])[0]
    assert (second.added, second.signature, second.attestation) == (
        0, first.signature, first.attestation)
    assert layer_count(registry, "sign/again", digest, ".sig") == 1
    newer = {**PROVENANCE, "metadata": {"buildStartedOn": "2026-12-05T00:00:00Z"}}
    third = sign_many(writer, key, [job(registry, "sign/again", digest, newer)])[0]
    assert third.added == 1 and third.signature == first.signature
    assert layer_count(registry, "sign/again", digest, ".att") == 3
    trusted = (load_public_key(keys["ours"][1]),)
    assert attested(writer.client, "sign/again", digest, trusted)[SLSA] == newer
    cosign_verifies(keys["ours"][1], f"{registry.host}/sign/again@{digest}")


def test_jobs_about_one_image_in_one_call_all_land(registry, key):
    digest = registry.image("sign/twice", "latest", "amd64", b"twice")["digest"]
    name = f"{registry.host}/sign/twice"
    jobs = [SigningJob(name, digest, (attestation("slsaprovenance", PROVENANCE),)),
            SigningJob(name, digest, (attestation("cyclonedx", SBOM),), sign=False)]
    outcomes = sign_many(writer_for(registry), key, jobs, workers=4)
    assert [o.added for o in outcomes] == [2, 1]
    assert layer_count(registry, "sign/twice", digest, ".att") == 2


def test_an_image_cosign_signed_keeps_its_signature_beside_the_new_one(registry, keys, key,
                                                                      tmp_path):
    digest = registry.image("sign/cosigned", "latest", "amd64", b"cosigned")["digest"]
    image = f"{registry.host}/sign/cosigned@{digest}"
    cosign_key, cosign_public = keys["cosigns"]
    run_cosign(sign_command(cosign_key, image, True))
    (tmp_path / "sbom.json").write_text(json.dumps(SBOM))
    run_cosign(attest_command(cosign_key, image, tmp_path / "sbom.json", "cyclonedx", True))
    client = writer_for(registry).client
    before, before_digest = read_manifest(client, "sign/cosigned", signature_tag(digest))
    assert_same_bytes_as_cosign(before, before_digest)

    outcome = sign_many(writer_for(registry), key, [job(registry, "sign/cosigned", digest)])[0]
    assert outcome.error == "" and outcome.added == 3
    after, _ = read_manifest(client, "sign/cosigned", signature_tag(digest))
    assert after["layers"][0] == before["layers"][0] and len(after["layers"]) == 2
    assert layer_count(registry, "sign/cosigned", digest, ".att") == 3
    for public in (keys["ours"][1], cosign_public):
        run_cosign(verify_command(public, image, True))
        run_cosign(verify_attestation_command(public, image, "cyclonedx", True))
        trusted = (load_public_key(public),)
        assert signer(client, "sign/cosigned", digest, trusted)[0] == trusted[0]
        assert attested(client, "sign/cosigned", digest, trusted)[CDX] == SBOM
    run_cosign(verify_attestation_command(keys["ours"][1], image, "slsaprovenance", True))


def assert_same_bytes_as_cosign(manifest: dict, digest: str) -> None:
    """The config and manifest made here for cosign's layers are the very bytes it wrote."""
    config = config_for(manifest["layers"])
    assert manifest["config"] == {"mediaType": OCI_CONFIG, "size": len(config),
                                  "digest": digest_of(config)}
    assert digest_of(manifest_for(manifest["config"], manifest["layers"])) == digest


@pytest.mark.parametrize(("name", "expected"), [
    ("127.0.0.1:5000/axion/web", "axion/web"),
    ("127.0.0.1:5000/a/b/c", "a/b/c"),
    ("127.0.0.1:5000/axion/web:latest", None),
    ("127.0.0.1:5000/axion/web@sha256:" + "ab" * 32, None),
    ("127.0.0.1:5001/axion/web", None),
    ("axion/web", None),
])
def test_an_image_name_is_a_repository_of_the_writers_registry(name, expected):
    writer = RegistryWriter(RegistryClient("http://127.0.0.1:5000"))
    if expected is None:
        with pytest.raises(RegistryError, match="not an image name"):
            repository_in(writer, name)
    else:
        assert repository_in(writer, name) == expected


def test_a_job_on_another_registry_fails_alone(registry, key):
    digest = registry.image("sign/alone", "latest", "amd64", b"alone")["digest"]
    jobs = [SigningJob("elsewhere.example:5000/sign/alone", digest),
            job(registry, "sign/alone", digest)]
    first, second = sign_many(writer_for(registry), key, jobs)
    assert "not an image name (no tag, no digest) on 127.0.0.1:" in first.error
    assert second.error == "" and second.added == 3


@pytest.fixture(scope="module")
def private_registry(tmp_path_factory):
    if crypt is None:
        pytest.skip("no bcrypt hashing for the registry's htpasswd")
    hashed = crypt.crypt("s3cret-sign", crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))
    process, url = start_registry(tmp_path_factory.mktemp("private"), f"signer:{hashed}\n")
    yield Registry(url, "signer", "s3cret-sign")
    process.terminate()
    process.wait(10)


def test_images_of_a_private_registry_are_signed_with_its_account(private_registry, keys, key,
                                                                  tmp_path, monkeypatch):
    digest = private_registry.image("sign/private", "latest", "amd64", b"private")["digest"]
    outcome = sign_many(writer_for(private_registry), key,
                        [job(private_registry, "sign/private", digest)])[0]
    assert outcome.error == ""
    auth = base64.b64encode(b"signer:s3cret-sign").decode()
    (tmp_path / "config.json").write_text(json.dumps(
        {"auths": {private_registry.host: {"auth": auth}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))  # cosign's login for that registry
    cosign_verifies(keys["ours"][1], f"{private_registry.host}/sign/private@{digest}")
    anonymous = RegistryWriter(RegistryClient(private_registry.url))
    refused = sign_many(anonymous, key, [job(private_registry, "sign/private", digest)])[0]
    assert "HTTP 401" in refused.error


def test_replace_drops_only_this_keys_older_statement_of_that_type(registry, keys, key,
                                                                   tmp_path):
    digest = registry.image("sign/replace", "latest", "amd64", b"replace")["digest"]
    image = f"{registry.host}/sign/replace@{digest}"
    (tmp_path / "provenance.json").write_text(json.dumps(PROVENANCE))
    run_cosign(attest_command(keys["cosigns"][0], image, tmp_path / "provenance.json",
                              "slsaprovenance", True))
    writer = writer_for(registry)
    sign_many(writer, key, [job(registry, "sign/replace", digest)])
    assert layer_count(registry, "sign/replace", digest, ".att") == 3
    newer = {**PROVENANCE, "metadata": {"buildStartedOn": "2026-12-06T00:00:00Z"}}
    replacing = dataclasses.replace(job(registry, "sign/replace", digest, newer), replace=True)
    outcome = sign_many(writer, key, [replacing])[0]
    assert outcome.added == 1  # the new provenance; the same SBOM stays as it was
    manifest, _ = read_manifest(writer.client, "sign/replace", signature_tag(digest, ".att"))
    assert [x["annotations"]["predicateType"] for x in manifest["layers"]] == [SLSA, CDX, SLSA]
    ours, theirs = (load_public_key(keys[k][1]) for k in ("ours", "cosigns"))
    assert attested(writer.client, "sign/replace", digest, (ours,)) == {SLSA: newer, CDX: SBOM}
    assert SLSA in attested(writer.client, "sign/replace", digest, (theirs,))
    for public in (keys["ours"][1], keys["cosigns"][1]):
        run_cosign(verify_attestation_command(public, image, "slsaprovenance", True))
    again = sign_many(writer, key, [replacing])[0]
    assert (again.added, again.attestation) == (0, outcome.attestation)


def test_a_manifest_list_is_signed_by_its_own_digest(registry, keys, key):
    children = [registry.image("sign/multi", arch, arch, f"multi {arch}".encode())
                for arch in ("amd64", "arm64")]
    digest = registry.index("sign/multi", "latest", children)
    outcome = sign_many(writer_for(registry), key, [job(registry, "sign/multi", digest)])[0]
    assert outcome.error == ""
    cosign_verifies(keys["ours"][1], f"{registry.host}/sign/multi@{digest}")
    trusted = (load_public_key(keys["ours"][1]),)
    assert signer(writer_for(registry).client, "sign/multi", digest, trusted)[0] == trusted[0]
