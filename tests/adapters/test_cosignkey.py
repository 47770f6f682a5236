"""cosign's encrypted private keys opened in process: pairs made by the real `cosign
generate-key-pair` (with and without a password) open to the key of their `.pub`; a wrong
password or a damaged file fails naming the file, never the password."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from axion_build.adapters.cosign import generate_command, run_cosign
from axion_build.adapters.cosignkey import SigningKeyError, load_signing_key, sealed_key
from axion_build.config.publickeys import load_public_key

needs_cosign = pytest.mark.skipif(shutil.which("cosign") is None,
                                  reason="no cosign CLI (scripts/provision.sh install_cosign)")
PASSWORD = "correct-horse-battery-staple-93"


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    """Key pairs made by cosign: {password: (private file, public file)}."""
    folder = tmp_path_factory.mktemp("keys")
    made = {}
    for password, prefix in ((PASSWORD, "locked"), ("", "open")):
        run_cosign(generate_command(prefix), password=password, cwd=folder)
        made[password] = (folder / f"{prefix}.key", folder / f"{prefix}.pub")
    return made


def public_bytes(key) -> bytes:
    return key.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


@needs_cosign
@pytest.mark.parametrize("password", [PASSWORD, ""])
def test_a_cosign_key_opens_to_the_key_of_its_public_file(pairs, password):
    private, public = pairs[password]
    key = load_signing_key(private, password)
    assert key.source == str(private)
    assert public_bytes(key.private.public_key()) == public_bytes(load_public_key(public).key)
    assert load_public_key(public).verifies(key.sign(b"payload"), b"payload")
    assert not key.public().verifies(key.sign(b"payload"), b"other")


@needs_cosign
@pytest.mark.parametrize(("password", "given"), [(PASSWORD, "wrong-password-xyz"),
                                                 (PASSWORD, ""), ("", "unexpected-pw")])
def test_a_wrong_password_names_the_file_and_never_the_password(pairs, password, given):
    private, _ = pairs[password]
    with pytest.raises(SigningKeyError, match="wrong password for this cosign key") as caught:
        load_signing_key(private, given)
    assert str(private) in str(caught.value)
    assert not given or given not in str(caught.value)
    assert PASSWORD not in str(caught.value)


def pem(body: bytes, kind: str = "ENCRYPTED SIGSTORE PRIVATE KEY") -> str:
    return f"-----BEGIN {kind}-----\n{base64.b64encode(body).decode()}\n-----END {kind}-----\n"


SEALED = {"kdf": {"name": "scrypt", "params": {"N": 2, "r": 1, "p": 1}, "salt": "AA=="},
          "cipher": {"name": "nacl/secretbox", "nonce": base64.b64encode(bytes(24)).decode()},
          "ciphertext": base64.b64encode(bytes(40)).decode()}


@pytest.mark.parametrize(("text", "message"), [
    ("hello", "is not a cosign private key"),
    (pem(b"x", "EC PRIVATE KEY"), "is not a cosign private key"),
    (pem(b"not json"), "its PEM body is not cosign's key JSON"),
    (pem(b"[1]"), "its PEM body is not cosign's key JSON"),
    (pem(json.dumps({"kdf": {}}).encode()), "lacks or garbles"),
    (pem(json.dumps({**SEALED, "kdf": {**SEALED["kdf"], "name": "pbkdf2"}}).encode()),
     "unknown key encryption pbkdf2/nacl/secretbox"),
    (pem(json.dumps({**SEALED, "kdf": {**SEALED["kdf"], "params": {"N": 1 << 30, "r": 8,
                                                                    "p": 1}}}).encode()),
     "out of bounds"),
    (pem(json.dumps({**SEALED, "kdf": {**SEALED["kdf"], "params": {"N": 1000, "r": 8,
                                                                    "p": 1}}}).encode()),
     "out of bounds"),
    (pem(json.dumps(SEALED).encode()), "wrong password"),
])
def test_a_damaged_key_file_is_named_with_what_is_wrong(tmp_path, text, message):
    path = tmp_path / "ci.key"
    path.write_text(text)
    with pytest.raises(SigningKeyError, match=message) as caught:
        load_signing_key(path, "pw")
    assert str(path) in str(caught.value)


def test_a_missing_key_file_is_named():
    with pytest.raises(SigningKeyError, match="absent.key: cannot read it"):
        load_signing_key(Path("/nonexistent/absent.key"), "")


def test_the_legacy_cosign_pem_type_is_read_too():
    text = pem(json.dumps(SEALED).encode(), "ENCRYPTED COSIGN PRIVATE KEY")
    assert sealed_key(text, "old.key") == SEALED
