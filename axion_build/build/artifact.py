"""A compiled module as a registry artifact: its content key, its record, and the checks a
fetched one must pass before it is used (pure, but for reading files).

The key is a hash of everything that changes a module's `.so`: its source and the path
Cython writes into it, its import name, and the toolchain fingerprint (Cython version,
directives, cflags, platform, interpreter version and ABI suffix, compiler and builder).
The artifact holds the `.so` and a record: the key, the sha256 of the `.so`, and which
run on which host built it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

FORMAT = 1
ARTIFACT_TYPE = "application/vnd.axion.module.v1"
SO_TYPE = "application/vnd.axion.module.so"
RECORD_TYPE = "application/vnd.axion.module.record+json"
KEY_ANNOTATION = "org.axion.key"
ELF_MAGIC = b"\x7fELF"
MAX_BYTES = 256 * 1024 * 1024


class BadArtifact(ValueError):
    """A fetched artifact that must not be used; the message says what is wrong."""


class DamagedBlob(BadArtifact):
    """A blob whose stored bytes are not what its digest names (damaged or cut short)."""

    def __init__(self, message: str, digest: str):
        super().__init__(message)
        self.digest = digest


def module_key(fingerprint: str, module_name: str, source: Path) -> str:
    """The content key of one module's `.so` (64 hex digits)."""
    facts = [FORMAT, fingerprint, module_name, source.as_posix(),
             hashlib.sha256(source.read_bytes()).hexdigest()]
    return hashlib.sha256(json.dumps(facts).encode()).hexdigest()


def shared_key(fingerprint: str, module_name: str) -> str:
    """The content key of the shared Cython utility module (it has no source)."""
    return hashlib.sha256(json.dumps([FORMAT, fingerprint, module_name, "shared"])
                          .encode()).hexdigest()


@dataclass(frozen=True)
class Origin:
    """Who built a module that came from the registry."""

    run: str
    host: str
    built: str
    signer: str = ""  # the trusted public key file whose signature the artifact carries

    def describe(self) -> str:
        """`from the registry cache, built by run <guid> on <host>, signed by <key>`."""
        text = f"from the registry cache, built by run {self.run or '?'} on {self.host or '?'}"
        return text + (f", signed by {self.signer}" if self.signer else "")


def make_record(key: str, module: str, platform: str, so_bytes: bytes, origin: Origin) -> dict:
    """The record pushed beside a `.so`."""
    return {"format": FORMAT, "key": key, "module": module, "platform": platform,
            "sha256": hashlib.sha256(so_bytes).hexdigest(), "size": len(so_bytes),
            "run": origin.run, "host": origin.host, "built": origin.built}


def layer_of(manifest: dict, media_type: str) -> dict:
    """The one layer of `media_type` in an artifact manifest; BadArtifact if not one."""
    layers = [x for x in manifest.get("layers") or [] if x.get("mediaType") == media_type]
    if len(layers) != 1:
        raise BadArtifact(f"the manifest has {len(layers)} layers of type {media_type}")
    layer = layers[0]
    digest, size = str(layer.get("digest", "")), layer.get("size")
    if not digest.startswith("sha256:") or not isinstance(size, int) or not 0 < size <= MAX_BYTES:
        raise BadArtifact(f"layer {media_type} has no usable digest and size")
    return layer


def check_manifest(manifest: dict, key: str) -> tuple[dict, dict]:
    """The `.so` and record layers of a manifest made for `key`."""
    if manifest.get("artifactType") != ARTIFACT_TYPE:
        raise BadArtifact(f"not a compiled module (artifact type "
                          f"{manifest.get('artifactType')!r})")
    if (manifest.get("annotations") or {}).get(KEY_ANNOTATION) != key:
        raise BadArtifact("the manifest is for another key")
    return layer_of(manifest, SO_TYPE), layer_of(manifest, RECORD_TYPE)


def check_blob(layer: dict, body: bytes) -> None:
    """A blob equals what its layer descriptor promises."""
    if len(body) != layer["size"]:
        raise DamagedBlob(f"blob {layer['digest'][:19]} has {len(body)} bytes, "
                          f"the manifest says {layer['size']} (truncated?)", layer["digest"])
    if "sha256:" + hashlib.sha256(body).hexdigest() != layer["digest"]:
        raise DamagedBlob(f"blob {layer['digest'][:19]} does not match its digest",
                          layer["digest"])


def check_record(record_bytes: bytes, so_bytes: bytes, key: str, platform: str) -> Origin:
    """The record is for this key and platform and describes exactly this `.so`."""
    try:
        record = json.loads(record_bytes)
    except ValueError as exc:
        raise BadArtifact(f"unreadable record ({exc})") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise BadArtifact("record of an unknown format")
    if record.get("key") != key or record.get("platform") != platform:
        raise BadArtifact("the record is for another key or platform")
    if (record.get("sha256") != hashlib.sha256(so_bytes).hexdigest()
            or record.get("size") != len(so_bytes)):
        raise BadArtifact("the .so is not the one its record describes")
    if not so_bytes.startswith(ELF_MAGIC):
        raise BadArtifact("the .so is not an ELF shared object")
    return Origin(str(record.get("run", "")), str(record.get("host", "")),
                  str(record.get("built", "")))
