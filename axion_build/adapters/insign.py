"""Signing and attesting images in this process, as `cosign sign` / `cosign attest` do
with a key pair and no transparency log, for many images in one call.

What is written is what cosign writes (sigformat.py), so `cosign verify` and
`cosign verify-attestation` accept it, and so does signatures.py. New layers are
appended to a `.sig` / `.att` manifest already there, as cosign appends; a layer that
says the same thing under the same key as one already there is not added again.
"""

from __future__ import annotations

import base64
import json
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from axion_build.adapters.cosign import PREDICATE_TYPES
from axion_build.adapters.cosignkey import SigningKey
from axion_build.adapters.registry import RegistryError
from axion_build.adapters.registrywrite import RegistryWriter, digest_of
from axion_build.adapters.sigformat import (
    OCI_CONFIG,
    OCI_MANIFEST,
    attestation_layer,
    config_for,
    envelope,
    manifest_for,
    signature_layer,
    simple_signing_payload,
    statement,
)
from axion_build.adapters.signatures import (
    DSSE,
    SIGNATURE_ANNOTATION,
    SIMPLE_SIGNING,
    checked_blob,
    envelope_statement,
    read_manifest,
    signature_tag,
)

# a present layer, a candidate layer and the candidate's blob → whether it says the same
Duplicate = Callable[[dict, dict, bytes], bool]


@dataclass(frozen=True)
class Attestation:
    """One predicate to attach to an image, under its in-toto predicate type."""

    predicate_type: str
    predicate: dict


@dataclass(frozen=True)
class SigningJob:
    """An image to sign and attest: its name with the registry (no tag) and digest."""

    name: str
    digest: str
    attestations: tuple[Attestation, ...] = ()
    sign: bool = True


@dataclass(frozen=True)
class SigningOutcome:
    """What one job wrote: the `.sig` and `.att` manifest digests, the layers added, or
    why it failed."""

    job: SigningJob
    signature: str = ""
    attestation: str = ""
    added: int = 0
    error: str = ""


def attestation(kind: str, predicate: dict) -> Attestation:
    """An attestation of one of cosign's `--type` names (cyclonedx, slsaprovenance)."""
    return Attestation(PREDICATE_TYPES[kind], predicate)


def repository_in(writer: RegistryWriter, name: str) -> str:
    """The repository path of `name` on the writer's registry; RegistryError when `name`
    is on another registry."""
    host = urllib.parse.urlsplit(writer.client.base_url).netloc
    if not name.startswith(host + "/") or "@" in name or name.count(":") > host.count(":"):
        raise RegistryError(f"{name}: not an image name (no tag, no digest) on {host}")
    return name[len(host) + 1:]


def append_layers(writer: RegistryWriter, repository: str, tag: str,
                  new: list[tuple[bytes, dict]], duplicate: Duplicate) -> tuple[str, int]:
    """Add each (blob, layer) of `new` that says something new to the manifest of `tag`
    (made when absent); the manifest's digest and the number of layers added."""
    manifest, digest = read_manifest(writer.client, repository, tag)
    layers = list(manifest.get("layers") or [])
    added = 0
    # the blobs go up without a HEAD first: a signature or an envelope is new each time
    # (ECDSA is randomised) and so is the config listing it; a payload the registry
    # already holds is stored once all the same
    for blob, layer in new:
        if any(duplicate(old, layer, blob) for old in layers):
            continue
        writer.upload_blob(repository, blob)
        layers.append(layer)
        added += 1
    if manifest and not added:
        return digest, 0
    config = config_for(layers)
    descriptor = {"mediaType": OCI_CONFIG, "size": len(config),
                  "digest": writer.upload_blob(repository, config)}
    return writer.put_manifest(repository, tag, manifest_for(descriptor, layers),
                               OCI_MANIFEST), added


def same_signature(key: SigningKey) -> Duplicate:
    """A present layer signs the same payload with `key` (ECDSA signatures differ each
    time, so bytes are not compared)."""
    public = key.public()

    def duplicate(old: dict, layer: dict, payload: bytes) -> bool:
        if old.get("mediaType") != SIMPLE_SIGNING or old.get("digest") != layer["digest"]:
            return False
        try:
            signature = base64.b64decode((old.get("annotations") or {})
                                         .get(SIGNATURE_ANNOTATION, ""), validate=True)
        except ValueError:
            return False
        return public.verifies(signature, payload)
    return duplicate


def same_statement(writer: RegistryWriter, repository: str, key: SigningKey) -> Duplicate:
    """A present envelope holds the same statement, signed with `key`."""
    public = key.public()

    def duplicate(old: dict, layer: dict, body: bytes) -> bool:
        wanted = layer["annotations"]["predicateType"]
        if (old.get("mediaType") != DSSE
                or (old.get("annotations") or {}).get("predicateType") != wanted):
            return False
        try:
            present = checked_blob(writer.client, repository, old)
        except RegistryError:
            return False
        mine = json.loads(base64.b64decode(json.loads(body)["payload"]))
        return envelope_statement(present, (public,)) == mine
    return duplicate


def sign_image(writer: RegistryWriter, key: SigningKey, name: str,
               digest: str) -> tuple[str, int]:
    """Sign `name@digest`; the `.sig` manifest's digest and the layers added (0 or 1)."""
    payload = simple_signing_payload(name, digest)
    layer = signature_layer(payload, digest_of(payload), key.sign(payload))
    return append_layers(writer, repository_in(writer, name), signature_tag(digest),
                         [(payload, layer)], same_signature(key))


def attest_image(writer: RegistryWriter, key: SigningKey, name: str, digest: str,
                 attestations: tuple[Attestation, ...]) -> tuple[str, int]:
    """Attach signed statements of `attestations` to `name@digest` in one manifest write;
    the `.att` manifest's digest and the layers added."""
    repository = repository_in(writer, name)
    new = []
    for item in attestations:
        body = envelope(statement(name, digest, item.predicate_type, item.predicate),
                        key.sign)
        new.append((body, attestation_layer(body, digest_of(body), item.predicate_type)))
    return append_layers(writer, repository, signature_tag(digest, ".att"), new,
                         same_statement(writer, repository, key))


def run_job(writer: RegistryWriter, key: SigningKey, job: SigningJob) -> SigningOutcome:
    """Sign and attest one image; a registry failure is the outcome's error."""
    signature = attested = ""
    added = 0
    try:
        if job.sign:
            signature, count = sign_image(writer, key, job.name, job.digest)
            added += count
        if job.attestations:
            attested, count = attest_image(writer, key, job.name, job.digest,
                                           job.attestations)
            added += count
    except RegistryError as exc:
        return SigningOutcome(job, signature, attested, added, str(exc))
    return SigningOutcome(job, signature, attested, added)


def sign_many(writer: RegistryWriter, key: SigningKey, jobs: list[SigningJob],
              workers: int = 16) -> list[SigningOutcome]:
    """Sign and attest every job, `workers` at a time; outcomes in the order of `jobs`.
    Jobs about the same image run one after another (they rewrite the same tags)."""
    groups: dict[tuple[str, str], list[int]] = {}
    for index, job in enumerate(jobs):
        groups.setdefault((job.name, job.digest), []).append(index)

    def run_group(indexes: list[int]) -> list[tuple[int, SigningOutcome]]:
        return [(i, run_job(writer, key, jobs[i])) for i in indexes]

    outcomes: list[SigningOutcome | None] = [None] * len(jobs)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for done in pool.map(run_group, groups.values()):
            for index, outcome in done:
                outcomes[index] = outcome
    return [outcome for outcome in outcomes if outcome is not None]
