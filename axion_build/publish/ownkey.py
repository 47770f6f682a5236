"""Whether a digest carries a signature of this package's own cosign key: the registry may
hold it signed by another checkout's or machine's key, which `verify` (and so a deploy)
here refuses. What this build folder signed or verified is remembered, one marker file a
digest and key, so a rerun asks cosign nothing."""

from __future__ import annotations

import hashlib
from pathlib import Path

from axion_build.build.signkeys import cosign_key_paths, key_folder
from axion_build.config.model import PackageConfig


def signature_problem(public: Path, image: str, insecure: bool) -> str:
    """Why `image` (by digest) has no signature made with the key of `public` ('' if it has)."""
    from axion_build.adapters.cosign import CosignError, run_cosign, verify_command

    try:
        run_cosign(verify_command(public, image, insecure))
    except CosignError as exc:
        return f"signature not verified with {public.name}: {exc}"
    return ""


def marker(cfg: PackageConfig, digest: str) -> Path | None:
    """The file that says `digest` is signed with the package's current key (None: no key)."""
    _, public = cosign_key_paths(key_folder(cfg), cfg.name)
    if not public.is_file():
        return None
    key = hashlib.sha256(public.read_bytes()).hexdigest()[:16]
    return cfg.build_dir / "signed" / f"{digest.replace(':', '-')}.{key}"


def remember_signed(cfg: PackageConfig, digest: str) -> None:
    """Note that this build folder signed `digest` with the package's key."""
    if (path := marker(cfg, digest)) is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()


def signed_by_own_key(cfg: PackageConfig, ref: str, digest: str) -> bool:
    """Whether `ref@digest` carries a signature of the package's own key."""
    path = marker(cfg, digest)
    if path is None:
        return False
    if path.is_file():
        return True
    _, public = cosign_key_paths(key_folder(cfg), cfg.name)
    if signature_problem(public, f"{ref}@{digest}", cfg.registry.insecure):
        return False
    remember_signed(cfg, digest)
    return True
