"""Public keys a checkout trusts to have signed what it takes from the registry: the
package's own cosign key and those `cache.trusted_keys` lists (ECDSA PEM files, as cosign
writes them)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec


@dataclass(frozen=True)
class PublicKey:
    """One trusted public key and the file it came from (to name it in messages)."""

    source: str
    key: ec.EllipticCurvePublicKey

    def verifies(self, signature: bytes, data: bytes) -> bool:
        """Whether `signature` (DER ECDSA, SHA-256) is this key's over `data`."""
        try:
            self.key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            return False
        return True


class KeyFileError(ValueError):
    """A trusted key file that cannot be used; the message names the file and why."""


def load_public_key(path: Path) -> PublicKey:
    """The ECDSA public key in a PEM file (a cosign `.pub`)."""
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    if b"PRIVATE KEY" in text:
        raise KeyFileError(f"{path} holds a private key: list public keys only")
    try:
        key = serialization.load_pem_public_key(text)
    except ValueError as exc:
        raise KeyFileError(f"{path} is not a PEM public key ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise KeyFileError(f"{path} is not an ECDSA public key (cosign's key pairs are)")
    return PublicKey(str(path), key)


def readable_keys(paths) -> tuple[PublicKey, ...]:
    """The public keys of `paths` that can be used; an unusable file is left out (validate
    names it)."""
    found = []
    for path in paths:
        try:
            found.append(load_public_key(path))
        except KeyFileError:
            continue
    return tuple(found)
