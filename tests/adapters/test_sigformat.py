"""The bytes of cosign's signature and attestation manifests, made here (pure): compared
with what cosign 2.5 wrote for an image the pipeline pushed (its `.sig` and `.att` tags,
copied below), byte for byte."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from axion_build.adapters.sigformat import (
    OCI_CONFIG,
    attestation_layer,
    config_for,
    envelope,
    manifest_for,
    signature_layer,
    simple_signing_payload,
    statement,
)
from axion_build.adapters.signatures import about, envelope_statement, signed_digest
from axion_build.config.publickeys import PublicKey

NAME = "127.0.0.1:5000/axion/homechoice-web"
DIGEST = "sha256:e84c9aa459fe8633b4f7d0716a0afe073c350484fbf8ae62594c58f2eb616e39"
# cosign sign, twice, of NAME@DIGEST: its payload, config and manifest digests
PAYLOAD = "sha256:2c4edf634eae8ec56c03f64c2f9625b8ecdd2587bdc729398ca45bd261043cc2"
SIG_CONFIG = "sha256:c7c450b3be26c4c5a9164146c0b00122107d42ec737f19677aed28968afcb36b"
SIG_MANIFEST = "sha256:1dfe93e21054086454f6dc06c1c31f5013aa175949d7ee1ee740c8702c832711"
COSIGN_SIGNATURES = (
    "MEYCIQDPomcHbxPfkYxpgS85rG3Im2Oy9wXPtkUj303xmkzzkQIhAMLUVjHUMTaKne/qQUxuIXeZ3wRz28LdNFFJNOQ45RC5",
    "MEQCIDUY4MKklVPY936qzFjY9EpLy/6E8jm7gMS00+24/i/kAiAt7PiErKjxioQM3VR1M7+iD8uKoVq+gg8xVyFhHm/Wuw==",
)
# cosign attest, twice each of a CycloneDX SBOM and a SLSA provenance: the envelopes
ATT_LAYERS = ("sha256:1d6c60d0d4bf0c5b26f3a6f809d1ee950d9b7aa4dea8fd6dbb155c17f66d8ca5",
              "sha256:8839d2f227efe0a73681706befca311f9d592dc67ea6d9cf1f3465dce10cba71",
              "sha256:c10d936429a289b840e41002a0845b56ce2798f1c6e5127c2037710554d9be60",
              "sha256:3e6354e6d67d24e56bf9103139fc9d4ada190fa757a9ddc82aa292f3fca29da9")
ATT_CONFIG = "sha256:9425671c7cbb6a0fe434c9b20c2c163074776a8823be8fd3a7e2cea390db6787"


def digest(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def test_the_simple_signing_payload_is_cosigns_byte_for_byte():
    payload = simple_signing_payload(NAME, DIGEST)
    assert digest(payload) == PAYLOAD and len(payload) == 251
    assert signed_digest(payload) == DIGEST


@pytest.mark.parametrize(("layers", "expected"), [
    ((PAYLOAD, PAYLOAD), SIG_CONFIG),
    (ATT_LAYERS, ATT_CONFIG),
])
def test_the_config_is_go_containerregistrys_for_those_layers(layers, expected):
    assert digest(config_for([{"digest": d} for d in layers])) == expected


def test_the_signature_manifest_is_cosigns_byte_for_byte():
    payload = simple_signing_payload(NAME, DIGEST)
    layers = [signature_layer(payload, PAYLOAD, base64.b64decode(s)) for s in COSIGN_SIGNATURES]
    config = config_for(layers)
    descriptor = {"mediaType": OCI_CONFIG, "size": len(config), "digest": digest(config)}
    assert digest(manifest_for(descriptor, layers)) == SIG_MANIFEST


def test_an_envelope_holds_the_statement_signed_over_pae():
    private = ec.generate_private_key(ec.SECP256R1())
    public = PublicKey("t.pub", private.public_key())
    body = statement(NAME, DIGEST, "https://slsa.dev/provenance/v0.2", {"builder": {"id": "x"}})
    sealed = envelope(body, lambda data: private.sign(data, ec.ECDSA(hashes.SHA256())))
    found = envelope_statement(sealed, (public,))
    assert found == json.loads(body) and about(found, DIGEST)
    assert found["_type"] == "https://in-toto.io/Statement/v0.1"
    assert found["subject"] == [{"name": NAME, "digest": {"sha256": DIGEST[7:]}}]
    layer = attestation_layer(sealed, digest(sealed), "https://slsa.dev/provenance/v0.2")
    assert layer["annotations"] == {"dev.cosignproject.cosign/signature": "",
                                    "predicateType": "https://slsa.dev/provenance/v0.2"}
    assert layer["size"] == len(sealed)
