"""The cosign CLI: key pairs, signatures and attestations by digest, without Rekor/Fulcio.

Command lines are plain lists (pure); `run_cosign` is the one place cosign runs. The
key password travels in COSIGN_PASSWORD of the child's environment only, never on a
command line or in an error text.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from axion_build.paths import cache_root

INSTALL_HINT = ("install it with scripts/provision.sh (its install_cosign step unpacks "
                "trixie's cosign 2.5.0), or put a cosign 2.x binary on PATH")
# attestation types cosign knows and the predicate type it writes for each
PREDICATE_TYPES = {"cyclonedx": "https://cyclonedx.org/bom",
                   "slsaprovenance": "https://slsa.dev/provenance/v0.2"}


class CosignError(Exception):
    """cosign failed; the message says which command, on what, and why."""


def cosign_binary() -> str:
    """The cosign CLI: on PATH, else the one provisioned into the machine's cache ('')."""
    found = shutil.which("cosign")
    if found:
        return found
    provisioned = cache_root() / "bin" / "cosign"
    return str(provisioned) if os.access(provisioned, os.X_OK) else ""


def registry_flags(insecure: bool) -> list[str]:
    """Flags for a registry without trusted TLS (the loopback registry speaks plain HTTP)."""
    return ["--allow-insecure-registry", "--allow-http-registry"] if insecure else []


def sign_command(key: Path, images: str | list[str], insecure: bool) -> list[str]:
    """`cosign sign` of one image, or of many in one process, by digest with a key pair,
    no transparency log."""
    refs = [images] if isinstance(images, str) else list(images)
    return ["sign", "--key", str(key), "--tlog-upload=false", "--yes",
            *registry_flags(insecure), *refs]


def attest_command(key: Path, image: str, predicate: Path, kind: str,
                   insecure: bool) -> list[str]:
    """`cosign attest` of a predicate file of `kind` to one image by digest."""
    return ["attest", "--key", str(key), "--tlog-upload=false", "--yes", "--type", kind,
            "--predicate", str(predicate), *registry_flags(insecure), image]


def verify_command(public: Path, image: str, insecure: bool) -> list[str]:
    """`cosign verify` of one image's signature against a public key."""
    return ["verify", "--key", str(public), "--insecure-ignore-tlog", "--output", "json",
            *registry_flags(insecure), image]


def verify_attestation_command(public: Path, image: str, kind: str,
                               insecure: bool) -> list[str]:
    """`cosign verify-attestation` of one image's attestations of `kind`."""
    return ["verify-attestation", "--key", str(public), "--insecure-ignore-tlog",
            "--type", kind, *registry_flags(insecure), image]


def generate_command(prefix: str) -> list[str]:
    """`cosign generate-key-pair` writing `<prefix>.key` and `<prefix>.pub` in the cwd."""
    return ["generate-key-pair", "--output-key-prefix", prefix]


def run_cosign(args: list[str], password: str = "", cwd: Path | None = None,
               timeout: float = 120.0) -> str:
    """Run cosign with `args`; its standard output. The password goes by environment."""
    binary = cosign_binary()
    if not binary:
        raise CosignError(f"no cosign CLI: {INSTALL_HINT}")
    env = {**os.environ, "COSIGN_PASSWORD": password}
    try:
        done = subprocess.run([binary, *args], capture_output=True, text=True, env=env,
                              cwd=cwd, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CosignError(f"cosign {args[0]} {args[-1]}: {exc}") from exc
    if done.returncode != 0:
        text = (done.stderr or done.stdout).strip()
        if password:
            text = text.replace(password, "***")
        raise CosignError(f"cosign {args[0]} {args[-1]} failed: {last_lines(text)}")
    return done.stdout


def last_lines(text: str, count: int = 6) -> str:
    """The end of a long error text (cosign prints its usage after some errors)."""
    lines = [line for line in text.splitlines() if line.strip()]
    return " | ".join(lines[-count:]) if lines else "(no output)"
