"""PEM key pairs in `data.config/`: provision once, check they match, never overwrite."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

KEY_BITS = 2048


def key_paths(folder: Path, package: str) -> tuple[Path, Path]:
    """Private and public key files of `package` in `folder`."""
    return folder / f"{package}_private.pem", folder / f"{package}_public.pem"


def provision_keys(folder: Path, package: str) -> list[Path]:
    """Create a matching key pair; keep an existing pair; refuse to complete half a pair."""
    private, public = key_paths(folder, package)
    if private.exists() and public.exists():
        return []
    if private.exists() or public.exists():
        present = private if private.exists() else public
        raise FileExistsError(
            f"{present} exists without its other half; refusing to overwrite it. "
            f"Restore the missing key or move {present.name} away, then run "
            f"'axion keys {package}' again")
    folder.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    private_pem = key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    write_new(private, private_pem, 0o600)
    try:
        write_new(public, public_pem, 0o644)
    except BaseException:
        private.unlink()
        raise
    return [private, public]


def write_new(path: Path, data: bytes, mode: int) -> None:
    """Write a file that must not exist yet, created with `mode` from the start."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, mode)


def key_pair_problem(folder: Path, package: str) -> str:
    """Why the key pair is unusable, or '' when both keys exist, parse and match."""
    private, public = key_paths(folder, package)
    missing = [p.name for p in (private, public) if not p.exists()]
    if missing:
        return f"missing key file(s) {', '.join(missing)} in {folder}"
    try:
        priv = serialization.load_pem_private_key(private.read_bytes(), password=None)
        pub = serialization.load_pem_public_key(public.read_bytes())
    except (ValueError, TypeError) as exc:
        return f"unreadable PEM key in {folder}: {exc}"
    if priv.public_key().public_numbers() != pub.public_numbers():
        return f"{private.name} and {public.name} are not a matching pair"
    if private.stat().st_mode & 0o077:
        return f"{private} is readable by others (mode {oct(private.stat().st_mode & 0o777)})"
    return ""


def keys_action(folder: Path, package: str) -> None:
    """doit action: provision the pair and say what happened."""
    created = provision_keys(folder, package)
    for path in created:
        print(f"created {path} (mode {oct(path.stat().st_mode & 0o777)})")
    if not created:
        print(f"{folder}: key pair of {package} already present, left as it is")


def task_keys():
    """Provision each package's PEM key pair in data.config/ (never overwrites)."""
    from tasks.packages import PACKAGES

    for cfg in PACKAGES.valid():
        folder = cfg.app_root / "data.config"
        paths = key_paths(folder, cfg.name)
        yield {
            "name": cfg.name,
            "actions": [(keys_action, [folder, cfg.name])],
            "targets": [str(p) for p in paths],
            "uptodate": [lambda paths=paths: all(p.exists() for p in paths)],
            "verbosity": 2,
        }
