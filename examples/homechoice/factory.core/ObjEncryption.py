"""The package's RSA key pair in data.config/: load, encrypt, decrypt, prove they match."""

import hashlib
import os

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding


def oaep():
    """The padding used for every encryption with the package keys."""
    return padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()),
                        algorithm=hashes.SHA256(), label=None)


class ObjEncryption:
    """The key pair {package}_private.pem / {package}_public.pem in one folder."""

    def __init__(self, folder, package):
        self.private_path = os.path.join(folder, package + "_private.pem")
        self.public_path = os.path.join(folder, package + "_public.pem")

    def missing(self):
        """The key files that do not exist."""
        return [os.path.basename(p) for p in (self.private_path, self.public_path)
                if not os.path.isfile(p)]

    def private_key(self):
        """The private key, parsed."""
        with open(self.private_path, "rb") as handle:
            return serialization.load_pem_private_key(handle.read(), password=None)

    def public_key(self):
        """The public key, parsed."""
        with open(self.public_path, "rb") as handle:
            return serialization.load_pem_public_key(handle.read())

    def encrypt(self, data):
        """`data` encrypted with the public key."""
        return self.public_key().encrypt(data, oaep())

    def decrypt(self, data):
        """`data` decrypted with the private key."""
        return self.private_key().decrypt(data, oaep())

    def fingerprint(self):
        """SHA-256 of the public key (DER), first 16 hex digits."""
        der = self.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)
        return hashlib.sha256(der).hexdigest()[:16]

    def pair_problem(self):
        """Why the keys cannot be used together, or '' when a round trip succeeds."""
        missing = self.missing()
        if missing:
            return "missing %s in %s" % (", ".join(missing), os.path.dirname(self.private_path))
        try:
            self.private_key()
            self.public_key()
        except (OSError, ValueError, TypeError) as exc:
            return "unreadable PEM key: %s" % (str(exc).splitlines()[0] if str(exc) else exc)
        probe = os.urandom(32)
        try:
            if self.decrypt(self.encrypt(probe)) != probe:
                return "round trip returned different bytes"
        except ValueError:
            return "keys are not a matching pair (decryption failed)"
        return ""
