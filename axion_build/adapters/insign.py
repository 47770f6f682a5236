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
# a present `.att` layer → the statement in it when our key signed it, else None
StatementOf = Callable[[dict], dict | None]


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
    # drop this key's older statements of the same predicate types, as `cosign attest
    # --replace` does (which drops any signer's: here another key's stay)
    replace: bool = False


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
                  new: list[tuple[bytes, dict]], duplicate: Duplicate,
                  stale: Callable[[dict], bool] = lambda layer: False) -> tuple[str, int]:
    """Add each (blob, layer) of `new` that says something new to the manifest of `tag`
    (made when absent), leaving out the `stale` layers present; the manifest's digest and
    the number of layers added."""
    manifest, digest = read_manifest(writer.client, repository, tag)
    present = list(manifest.get("layers") or [])
    layers = [layer for layer in present if not stale(layer)]
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
    if manifest and not added and len(layers) == len(present):
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


def predicate_label(layer: dict) -> str:
    """The predicate type cosign labels an `.att` layer with ('' for none)."""
    return str((layer.get("annotations") or {}).get("predicateType", ""))


def statements_signed_by(writer: RegistryWriter, repository: str,
                         key: SigningKey) -> StatementOf:
    """Reads present `.att` layers (each once) for the statements `key` signed."""
    public, seen = key.public(), {}

    def statement_of(old: dict) -> dict | None:
        digest = str(old.get("digest", ""))
        if old.get("mediaType") != DSSE:
            return None
        if digest not in seen:
            try:
                seen[digest] = envelope_statement(checked_blob(writer.client, repository, old),
                                                  (public,))
            except RegistryError:
                seen[digest] = None
        return seen[digest]
    return statement_of


def same_statement(statement_of: StatementOf) -> Duplicate:
    """A present envelope holds the same statement, signed with our key."""
    def duplicate(old: dict, layer: dict, body: bytes) -> bool:
        if predicate_label(old) != predicate_label(layer):
            return False
        return statement_of(old) == json.loads(base64.b64decode(json.loads(body)["payload"]))
    return duplicate


def superseded(statement_of: StatementOf, mine: list[dict]) -> Callable[[dict], bool]:
    """A present envelope our key signed of one of `mine`'s predicate types, saying
    something else than `mine` (another signer's are never superseded)."""
    types = {item["predicateType"] for item in mine}

    def stale(old: dict) -> bool:
        if predicate_label(old) not in types:
            return False
        found = statement_of(old)
        return found is not None and found not in mine
    return stale


def sign_image(writer: RegistryWriter, key: SigningKey, name: str,
               digest: str) -> tuple[str, int]:
    """Sign `name@digest`; the `.sig` manifest's digest and the layers added (0 or 1)."""
    payload = simple_signing_payload(name, digest)
    layer = signature_layer(payload, digest_of(payload), key.sign(payload))
    return append_layers(writer, repository_in(writer, name), signature_tag(digest),
                         [(payload, layer)], same_signature(key))


def attest_image(writer: RegistryWriter, key: SigningKey, name: str, digest: str,
                 attestations: tuple[Attestation, ...],
                 replace: bool = False) -> tuple[str, int]:
    """Attach signed statements of `attestations` to `name@digest` in one manifest write
    (with `replace`, instead of this key's older ones of their types); the `.att`
    manifest's digest and the layers added."""
    repository = repository_in(writer, name)
    new, mine = [], []
    for item in attestations:
        body = statement(name, digest, item.predicate_type, item.predicate)
        mine.append(json.loads(body))
        sealed = envelope(body, key.sign)
        new.append((sealed, attestation_layer(sealed, digest_of(sealed), item.predicate_type)))
    statement_of = statements_signed_by(writer, repository, key)
    stale = superseded(statement_of, mine) if replace else (lambda layer: False)
    return append_layers(writer, repository, signature_tag(digest, ".att"), new,
                         same_statement(statement_of), stale)


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
                                           job.attestations, job.replace)
            added += count
    except RegistryError as exc:
        return SigningOutcome(job, signature, attested, added, str(exc))
    except ValueError as exc:
        return SigningOutcome(job, signature, attested, added,
                              f"{job.name}@{job.digest}: a signature tag is not JSON ({exc})")
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
