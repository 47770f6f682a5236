"""The bytes cosign writes for a signature or an attestation, made here (pure).

A signature is a "simple signing" payload naming `repo@digest`; an attestation is a DSSE
envelope of an in-toto statement. Both are layers of an OCI manifest under the digest's
`.sig` / `.att` tag, whose config is the one go-containerregistry gives an empty image
after appending those layers. JSON is compact, as Go's encoding/json writes it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

from axion_build.adapters.signatures import DSSE, IN_TOTO, SIGNATURE_ANNOTATION, SIMPLE_SIGNING, pae

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v0.1"
ZERO_TIME = "0001-01-01T00:00:00Z"  # go-containerregistry's empty image has Go's zero time


def compact(value: object) -> bytes:
    """JSON without spaces, keys in the order given."""
    return json.dumps(value, separators=(",", ":")).encode()


def simple_signing_payload(name: str, digest: str) -> bytes:
    """cosign's payload for `name@digest` (`name` with its registry, no tag)."""
    return compact({"critical": {"identity": {"docker-reference": name},
                                 "image": {"docker-manifest-digest": digest},
                                 "type": "cosign container image signature"},
                    "optional": None})


def statement(name: str, digest: str, predicate_type: str, predicate: dict) -> bytes:
    """An in-toto statement about `name@digest`, as cosign attest writes it."""
    return compact({"_type": STATEMENT_TYPE, "predicateType": predicate_type,
                    "subject": [{"name": name,
                                 "digest": {"sha256": digest.removeprefix("sha256:")}}],
                    "predicate": predicate})


def envelope(body: bytes, sign: Callable[[bytes], bytes]) -> bytes:
    """The DSSE envelope of an in-toto statement, signed over DSSE's PAE."""
    signature = sign(pae(IN_TOTO, body))
    return compact({"payloadType": IN_TOTO, "payload": base64.b64encode(body).decode(),
                    "signatures": [{"keyid": "",
                                    "sig": base64.b64encode(signature).decode()}]})


def signature_layer(payload: bytes, digest: str, signature: bytes) -> dict:
    """The `.sig` manifest's descriptor of one signed payload."""
    return {"mediaType": SIMPLE_SIGNING, "size": len(payload), "digest": digest,
            "annotations": {SIGNATURE_ANNOTATION: base64.b64encode(signature).decode()}}


def attestation_layer(body: bytes, digest: str, predicate_type: str) -> dict:
    """The `.att` manifest's descriptor of one envelope (the signature is inside it)."""
    return {"mediaType": DSSE, "size": len(body), "digest": digest,
            "annotations": {SIGNATURE_ANNOTATION: "", "predicateType": predicate_type}}


def config_for(layers: list[dict]) -> bytes:
    """The image config go-containerregistry writes for an empty image plus `layers`
    (their blobs are stored as is, so each diff ID is the layer's digest)."""
    return compact({"architecture": "", "created": ZERO_TIME,
                    "history": [{"created": ZERO_TIME} for _ in layers], "os": "",
                    "rootfs": {"type": "layers",
                               "diff_ids": [layer["digest"] for layer in layers]},
                    "config": {}})


def manifest_for(config: dict, layers: list[dict]) -> bytes:
    """The OCI image manifest of a `.sig` or `.att` tag."""
    return compact({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config,
                    "layers": layers})
