"""cosign's signatures and attestations as the registry holds them, checked in this process
against the public keys a checkout trusts: no cosign process per image or module.

cosign keeps the signature of `repo@sha256:X` under the tag `sha256-X.sig`: a manifest
whose layers are "simple signing" payloads naming the signed digest, each with its
ECDSA signature in an annotation. Attestations live under `sha256-X.att`: DSSE envelopes
of in-toto statements, signed over DSSE's pre-authentication encoding. A signature or a
statement counts only when it verifies with a trusted key and names exactly this digest;
everything else in those tags is ignored, so a planted layer cannot pass and cannot hide
a good one.
"""

from __future__ import annotations

import base64
import hashlib
import json

from axion_build.adapters.registry import IMAGE_TYPES, INDEX_TYPES, RegistryClient, RegistryError
from axion_build.config.publickeys import PublicKey

SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
DSSE = "application/vnd.dsse.envelope.v1+json"
IN_TOTO = "application/vnd.in-toto+json"
MAX_LAYERS = 64  # a signature tag with more layers than this is not read further


def signature_tag(digest: str, suffix: str = ".sig") -> str:
    """The tag cosign keeps a digest's signature (`.sig`) or attestations (`.att`) under."""
    return digest.replace(":", "-") + suffix


def digest_of(body: bytes) -> str:
    """The OCI digest of some bytes."""
    return "sha256:" + hashlib.sha256(body).hexdigest()


def read_manifest(client: RegistryClient, repository: str, reference: str) -> tuple[dict, str]:
    """A manifest and the digest of the very bytes read (never the registry's header);
    ({}, '') when the registry has no such tag."""
    try:
        body, _ = client.get(f"/v2/{repository}/manifests/{reference}",
                             INDEX_TYPES + IMAGE_TYPES)
    except RegistryError as exc:
        if exc.status == 404:
            return {}, ""
        raise
    return json.loads(body), digest_of(body)


def checked_blob(client: RegistryClient, repository: str, layer: dict) -> bytes:
    """A layer's blob, whole and equal to its digest; RegistryError when it is not."""
    digest = str(layer.get("digest", ""))
    body = client.blob(repository, digest)
    if digest_of(body) != digest:
        raise RegistryError(f"blob {digest[:19]} of {repository} does not match its digest")
    return body


def layers_of(manifest: dict, media_type: str) -> list[dict]:
    """The layers of one media type of a signature or attestation manifest (bounded)."""
    return [x for x in (manifest.get("layers") or [])[:MAX_LAYERS]
            if x.get("mediaType") == media_type]


def signed_digest(payload: bytes) -> str:
    """The digest a simple-signing payload is about ('' when it is not one)."""
    try:
        critical = json.loads(payload).get("critical") or {}
    except (ValueError, AttributeError):
        return ""
    return str((critical.get("image") or {}).get("docker-manifest-digest", ""))


def signer(client: RegistryClient, repository: str, digest: str,
           keys: tuple[PublicKey, ...]) -> tuple[PublicKey | None, str]:
    """(the trusted key whose signature of `repository@digest` the registry holds, '') or
    (None, why there is none)."""
    manifest, _ = read_manifest(client, repository, signature_tag(digest))
    if not manifest:
        return None, "it is not signed"
    for layer in layers_of(manifest, SIMPLE_SIGNING):
        try:
            signature = base64.b64decode((layer.get("annotations") or {})
                                         .get(SIGNATURE_ANNOTATION, ""), validate=True)
            payload = checked_blob(client, repository, layer)
        except (ValueError, RegistryError):
            continue
        if signed_digest(payload) != digest:
            continue
        for key in keys:
            if key.verifies(signature, payload):
                return key, ""
    return None, "its signature is not made by a trusted key"


def pae(payload_type: str, body: bytes) -> bytes:
    """DSSE's pre-authentication encoding, what an envelope's signature is over."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(body), body)


def envelope_statement(envelope: bytes, keys: tuple[PublicKey, ...]) -> dict | None:
    """The in-toto statement of a DSSE envelope that a trusted key signed, else None."""
    try:
        data = json.loads(envelope)
        body = base64.b64decode(data["payload"], validate=True)
        kind = data["payloadType"]
        signatures = [base64.b64decode(s["sig"], validate=True) for s in data["signatures"]]
    except (ValueError, KeyError, TypeError):
        return None
    if kind != IN_TOTO:
        return None
    signed = pae(kind, body)
    if not any(key.verifies(sig, signed) for sig in signatures for key in keys):
        return None
    try:
        statement = json.loads(body)
    except ValueError:
        return None
    return statement if isinstance(statement, dict) else None


def about(statement: dict, digest: str) -> bool:
    """Whether an in-toto statement's subjects include `digest`."""
    wanted = digest.removeprefix("sha256:")
    return any(((s or {}).get("digest") or {}).get("sha256") == wanted
               for s in statement.get("subject") or [])


def attested(client: RegistryClient, repository: str, digest: str,
             keys: tuple[PublicKey, ...], only: tuple[str, ...] = ()) -> dict[str, dict]:
    """predicate type → predicate of every statement about `repository@digest` that a
    trusted key signed ({} when there is none); the last one of a type wins, as cosign
    appends newer attestations after older ones. With `only`, envelopes that cosign
    labelled with another predicate type are not downloaded (a label is no proof: what
    is read is checked all the same)."""
    manifest, _ = read_manifest(client, repository, signature_tag(digest, ".att"))
    found: dict[str, dict] = {}
    for layer in layers_of(manifest, DSSE):
        label = (layer.get("annotations") or {}).get("predicateType", "")
        if only and label not in only:
            continue
        try:
            envelope = checked_blob(client, repository, layer)
        except RegistryError:
            continue
        statement = envelope_statement(envelope, keys)
        if statement is not None and about(statement, digest):
            found[str(statement.get("predicateType", ""))] = statement.get("predicate") or {}
    return found
