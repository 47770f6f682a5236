"""cosign's signature formats checked in-process (pure, with keys made here): a simple-signing
payload and a DSSE envelope count only when a trusted key signed exactly those bytes and
they name the digest asked about. The registry side is covered where images and cache
entries are signed for real (tests/build/test_modcache.py, tests/publish/test_supply.py)."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from axion_build.adapters.signatures import IN_TOTO, about, envelope_statement, pae, signed_digest
from axion_build.config.publickeys import KeyFileError, PublicKey, load_public_key

DIGEST = "sha256:" + "ab" * 32


def key_pair() -> tuple[ec.EllipticCurvePrivateKey, PublicKey]:
    private = ec.generate_private_key(ec.SECP256R1())
    return private, PublicKey("test.pub", private.public_key())


def envelope(private, statement: dict, payload_type: str = IN_TOTO) -> bytes:
    body = json.dumps(statement).encode()
    signature = private.sign(pae(payload_type, body), ec.ECDSA(hashes.SHA256()))
    return json.dumps({"payloadType": payload_type,
                       "payload": base64.b64encode(body).decode(),
                       "signatures": [{"keyid": "", "sig": base64.b64encode(signature)
                                       .decode()}]}).encode()


STATEMENT = {"_type": "https://in-toto.io/Statement/v0.1", "predicateType": "t",
             "subject": [{"name": "r", "digest": {"sha256": DIGEST[7:]}}], "predicate": {}}


def test_an_envelope_counts_only_signed_by_a_trusted_key_over_its_own_bytes():
    private, public = key_pair()
    _, stranger = key_pair()
    signed = envelope(private, STATEMENT)
    assert envelope_statement(signed, (public,)) == STATEMENT
    assert envelope_statement(signed, (stranger,)) is None
    assert envelope_statement(signed, (stranger, public)) == STATEMENT
    data = json.loads(signed)
    edited = {**STATEMENT, "predicate": {"inputs_hash": "forged"}}
    data["payload"] = base64.b64encode(json.dumps(edited).encode()).decode()
    assert envelope_statement(json.dumps(data).encode(), (public,)) is None
    assert envelope_statement(envelope(private, STATEMENT, "text/plain"), (public,)) is None
    assert envelope_statement(b"not json", (public,)) is None


def test_a_statement_is_about_the_digests_it_names_only():
    assert about(STATEMENT, DIGEST)
    assert not about(STATEMENT, "sha256:" + "cd" * 32)
    assert not about({"subject": None}, DIGEST)


@pytest.mark.parametrize(("payload", "expected"), [
    (json.dumps({"critical": {"image": {"docker-manifest-digest": DIGEST}}}).encode(), DIGEST),
    (b'{"critical": {}}', ""),
    (b"[]", ""),
    (b"garbage", ""),
])
def test_a_simple_signing_payload_names_its_digest(payload, expected):
    assert signed_digest(payload) == expected


def test_trusted_key_files_must_be_public_ecdsa_keys(tmp_path):
    private, _ = key_pair()
    public_file = tmp_path / "ci.pub"
    public_file.write_bytes(private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    assert load_public_key(public_file).source == str(public_file)
    private_file = tmp_path / "ci.key"
    private_file.write_bytes(private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    with pytest.raises(KeyFileError, match="holds a private key: list public keys only"):
        load_public_key(private_file)
    (tmp_path / "junk.pub").write_text("hello")
    with pytest.raises(KeyFileError, match="is not a PEM public key"):
        load_public_key(tmp_path / "junk.pub")
    with pytest.raises(KeyFileError, match="cannot read it"):
        load_public_key(tmp_path / "absent.pub")
