"""Registry writes against real registries of our own on loopback: one open, one behind an
htpasswd account (as a private registry is)."""

from __future__ import annotations

import json
import warnings

import pytest

from axion_build.adapters.registry import IMAGE_TYPES, RegistryClient, RegistryError
from axion_build.adapters.registrywrite import RegistryWriter, digest_of, with_query
from tests.registryd import Registry, start_registry

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        import crypt
    except ImportError:
        crypt = None


@pytest.fixture(scope="module")
def open_registry(tmp_path_factory):
    process, url = start_registry(tmp_path_factory.mktemp("open"))
    yield Registry(url)
    process.terminate()
    process.wait(10)


@pytest.fixture(scope="module")
def private_registry(tmp_path_factory):
    if crypt is None:
        pytest.skip("no bcrypt hashing for the registry's htpasswd")
    hashed = crypt.crypt("s3cret-w", crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))
    process, url = start_registry(tmp_path_factory.mktemp("private"), f"signer:{hashed}\n")
    yield Registry(url, "signer", "s3cret-w")
    process.terminate()
    process.wait(10)


@pytest.fixture(params=["open", "private"])
def writer(request, open_registry, private_registry) -> RegistryWriter:
    registry = open_registry if request.param == "open" else private_registry
    return RegistryWriter(RegistryClient(registry.url, registry.username, registry.password))


@pytest.mark.parametrize(("url", "params", "expected"), [
    ("/v2/r/blobs/uploads/", {"mount": "sha256:ab", "from": "a/b"},
     "/v2/r/blobs/uploads/?mount=sha256%3Aab&from=a%2Fb"),
    ("http://h/v2/r/blobs/uploads/u?_state=x", {"digest": "sha256:cd"},
     "http://h/v2/r/blobs/uploads/u?_state=x&digest=sha256%3Acd"),
])
def test_query_parameters_are_added_to_what_the_url_carries(url, params, expected):
    assert with_query(url, **params) == expected


def test_a_blob_is_uploaded_once_and_read_back_whole(writer):
    data = b"signature payload " + writer.client.base_url.encode()
    digest = digest_of(data)
    assert not writer.blob_exists("sign/one", digest)
    assert writer.upload_blob("sign/one", data) == digest
    assert writer.blob_exists("sign/one", digest)
    assert writer.client.blob("sign/one", digest) == data
    assert writer.put_blob("sign/one", data) == digest  # present: not sent again


def test_a_blob_is_mounted_from_a_repository_of_the_same_registry(writer):
    data = b"shared layer " + writer.client.base_url.encode()
    digest = writer.upload_blob("sign/source", data)
    assert writer.mount_blob("sign/target", digest, "sign/source") == "mounted"
    assert writer.client.blob("sign/target", digest) == data


def test_a_mount_the_registry_declines_falls_back_to_an_upload(writer):
    data = b"only here " + writer.client.base_url.encode()
    digest = digest_of(data)  # the source does not hold it: the registry opens an upload
    assert writer.mount_blob("sign/elsewhere", digest, "sign/empty", data) == "uploaded"
    assert writer.client.blob("sign/elsewhere", digest) == data
    with pytest.raises(RegistryError, match="does not match its digest"):
        writer.mount_blob("sign/elsewhere", digest_of(b"x"), "sign/empty", b"y")


def test_a_manifest_is_put_by_tag_and_by_digest_and_its_digest_checked(writer):
    config = writer.put_blob("sign/app", b"{}")
    manifest = json.dumps({"schemaVersion": 2, "mediaType": IMAGE_TYPES[1],
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "size": 2, "digest": config}, "layers": []}).encode()
    digest = writer.put_manifest("sign/app", "v1", manifest, IMAGE_TYPES[1])
    assert digest == digest_of(manifest)
    assert writer.client.manifest("sign/app", "v1")[1] == digest
    assert writer.put_manifest("sign/app", digest, manifest, IMAGE_TYPES[1]) == digest
    with pytest.raises(RegistryError, match="HTTP 400"):  # its config is not in the repo
        writer.put_manifest("sign/other", "v1", manifest, IMAGE_TYPES[1])


def test_wrong_credentials_are_refused_with_the_status(private_registry):
    writer = RegistryWriter(RegistryClient(private_registry.url, "signer", "not-it"))
    with pytest.raises(RegistryError) as caught:
        writer.upload_blob("sign/one", b"data")
    assert caught.value.status == 401 and "not-it" not in str(caught.value)
    with pytest.raises(RegistryError) as caught:
        writer.blob_exists("sign/one", digest_of(b"data"))
    assert caught.value.status == 401
