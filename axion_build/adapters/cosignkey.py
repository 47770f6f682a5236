"""cosign's encrypted private key (`cosign generate-key-pair`), opened in this process.

The PEM body is go-securesystemslib's `encrypted` JSON: an scrypt key derivation (N, r, p
and a salt) of the password, a NaCl secretbox nonce, and the ciphertext of the PKCS#8 DER
of an ECDSA P-256 key. A key made without a password is encrypted all the same, under the
empty password. Errors name the key file and never the password.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import nacl.exceptions
import nacl.secret
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from axion_build.config.publickeys import PublicKey

PEM_TYPES = ("ENCRYPTED SIGSTORE PRIVATE KEY", "ENCRYPTED COSIGN PRIVATE KEY")
# bounds on a key file's scrypt parameters, so a planted file cannot take the machine's
# memory (cosign writes N=65536, r=8, p=1: 64 MiB)
MAX_N, MAX_R, MAX_P = 1 << 20, 32, 16


class SigningKeyError(ValueError):
    """A cosign private key that cannot be used; the message names the file and why."""


@dataclass(frozen=True)
class SigningKey:
    """An opened cosign private key and the file it came from."""

    source: str
    private: ec.EllipticCurvePrivateKey

    def sign(self, data: bytes) -> bytes:
        """The DER ECDSA P-256 SHA-256 signature of `data`, as cosign makes it."""
        return self.private.sign(data, ec.ECDSA(hashes.SHA256()))

    def public(self) -> PublicKey:
        """The matching public key, as signatures.py checks with it."""
        return PublicKey(self.source, self.private.public_key())


def load_signing_key(path: Path, password: str) -> SigningKey:
    """The cosign private key in `path`, decrypted with `password` ('' for none)."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise SigningKeyError(f"{path}: cannot read it ({getattr(exc, 'strerror', '') or exc})"
                              ) from None
    sealed = sealed_key(text, str(path))
    der = open_sealed(sealed, password.encode(), str(path))
    return SigningKey(str(path), private_key(der, str(path)))


def sealed_key(text: str, source: str) -> dict:
    """The encrypted-key JSON inside a cosign PEM (pure)."""
    lines = [line.strip() for line in text.strip().splitlines()]
    kinds = [k for k in PEM_TYPES if lines[:1] == [f"-----BEGIN {k}-----"]]
    if not kinds or lines[-1:] != [f"-----END {kinds[0]}-----"]:
        raise SigningKeyError(f"{source} is not a cosign private key (want a PEM block "
                              f"'{PEM_TYPES[0]}', as cosign generate-key-pair writes)")
    try:
        data = json.loads(base64.b64decode("".join(lines[1:-1]), validate=True))
    except ValueError:
        raise SigningKeyError(f"{source}: its PEM body is not cosign's key JSON") from None
    if not isinstance(data, dict):
        raise SigningKeyError(f"{source}: its PEM body is not cosign's key JSON")
    return data


def open_sealed(sealed: dict, password: bytes, source: str) -> bytes:
    """The plaintext of cosign's encrypted-key JSON: scrypt, then NaCl secretbox."""
    try:
        kdf, cipher = sealed["kdf"], sealed["cipher"]
        if kdf["name"] != "scrypt" or cipher["name"] != "nacl/secretbox":
            raise SigningKeyError(f"{source}: unknown key encryption {kdf['name']}/"
                                  f"{cipher['name']} (cosign writes scrypt/nacl/secretbox)")
        salt = base64.b64decode(kdf["salt"], validate=True)
        nonce = base64.b64decode(cipher["nonce"], validate=True)
        ciphertext = base64.b64decode(sealed["ciphertext"], validate=True)
        n, r, p = (int(kdf["params"][name]) for name in ("N", "r", "p"))
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, SigningKeyError):
            raise
        raise SigningKeyError(f"{source}: cosign's key JSON lacks or garbles {exc}") from None
    box = nacl.secret.SecretBox(scrypt_key(password, salt, (n, r, p), source))
    try:
        return box.decrypt(ciphertext, nonce)
    except (nacl.exceptions.CryptoError, ValueError):
        raise SigningKeyError(f"{source}: wrong password for this cosign key (or the file "
                              "is damaged); set signing.password or COSIGN_PASSWORD") from None


def scrypt_key(password: bytes, salt: bytes, params: tuple[int, int, int], source: str) -> bytes:
    """The 32-byte secretbox key scrypt derives from the password."""
    n, r, p = params
    if not (1 < n <= MAX_N and n & (n - 1) == 0 and 0 < r <= MAX_R and 0 < p <= MAX_P):
        raise SigningKeyError(f"{source}: scrypt parameters N={n} r={r} p={p} out of bounds")
    memory = 128 * r * (n + p + 2) + (1 << 20)
    return hashlib.scrypt(password, salt=salt, n=n, r=r, p=p, maxmem=memory,
                          dklen=nacl.secret.SecretBox.KEY_SIZE)


def private_key(der: bytes, source: str) -> ec.EllipticCurvePrivateKey:
    """The ECDSA P-256 key of a PKCS#8 DER plaintext."""
    try:
        key = serialization.load_der_private_key(der, password=None)
    except ValueError:
        raise SigningKeyError(f"{source}: the decrypted key is not PKCS#8 DER") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise SigningKeyError(f"{source}: not an ECDSA P-256 key (cosign's key pairs are)")
    return key
