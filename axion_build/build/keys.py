"""PEM key pairs in `data.config/`: provision once, check they match, never overwrite."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from doit.exceptions import TaskFailed

KEY_BITS = 2048


def key_paths(folder: Path, package: str) -> tuple[Path, Path]:
    """Private and public key files of `package` in `folder`."""
    return folder / f"{package}_private.pem", folder / f"{package}_public.pem"


def pair_present(private: Path, public: Path, package: str) -> bool:
    """Whether both halves of a key pair exist; half a pair is refused, never completed,
    and a key path that is not a file (a folder, say) is refused by name."""
    for path in (private, public):
        if path.exists() and not path.is_file():
            raise FileExistsError(f"{path} is not a file; a key goes there: move it away, "
                                  f"then run 'axion keys {package}' again")
    if private.exists() and public.exists():
        return True
    if private.exists() or public.exists():
        present = private if private.exists() else public
        raise FileExistsError(
            f"{present} exists without its other half; refusing to overwrite it. "
            f"Restore the missing key or move {present.name} away, then run "
            f"'axion keys {package}' again")
    return False


def provision_keys(folder: Path, package: str) -> list[Path]:
    """Create a matching key pair; keep an existing pair; refuse to complete half a pair."""
    private, public = key_paths(folder, package)
    if pair_present(private, public, package):
        return []
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


def key_pair_problem(folder: Path, package: str) -> tuple[str, str]:
    """(why the key pair is unusable, the commands that fix it); ('', '') when both keys
    are files that parse and match, the private one readable by its owner only."""
    private, public = key_paths(folder, package)
    make = f"doit keys:{package}"
    not_files = [p for p in (private, public) if p.exists() and not p.is_file()]
    if not_files:
        # half a pair is refused by provisioning, so both go aside for a new pair
        return (f"{', '.join(p.name for p in not_files)} in {folder} is not a file",
                f"{move_away([p for p in (private, public) if p.exists()])}, then run "
                f"'{make}' for a new pair")
    missing = [p for p in (private, public) if not p.exists()]
    if len(missing) == 2:
        return (f"missing key file(s) {private.name}, {public.name} in {folder}",
                f"run 'axion keys {package}' (or '{make}')")
    if missing:
        present = public if missing[0] == private else private
        return (f"missing key file(s) {missing[0].name} in {folder}",
                f"restore {missing[0].name}, or {move_away([present])} and run '{make}' "
                "for a new pair")
    try:
        priv = serialization.load_pem_private_key(private.read_bytes(), password=None)
        pub = serialization.load_pem_public_key(public.read_bytes())
    except (ValueError, TypeError, OSError) as exc:
        return (f"unreadable PEM key in {folder}: {exc}",
                f"{move_away([private, public])}, then run '{make}' for a new pair")
    if priv.public_key().public_numbers() != pub.public_numbers():
        return (f"{private.name} and {public.name} are not a matching pair",
                f"{move_away([private, public])}, then run '{make}' for a new pair "
                "(keys are never overwritten)")
    return exposed_key_problem(private)


def exposed_key_problem(private: Path) -> tuple[str, str]:
    """(why a private key file is open to group or others, the chmod that fixes it);
    ('', '') when its owner alone may use it."""
    mode = private.stat().st_mode & 0o777
    if not mode & 0o077:
        return "", ""
    return (f"{private} is readable by others (mode {oct(mode)})",
            f"chmod 600 {shlex.quote(str(private))}")


def exposed_keys(paths: list[Path]) -> list[str]:
    """Why each private key file of `paths` that exists is open to group or others."""
    return [why for p in paths if p.is_file() and (why := exposed_key_problem(p)[0])]


def move_away(paths: list[Path]) -> str:
    """The shell command that moves `paths` aside (keys are never overwritten in place)."""
    return " && ".join(f"mv {shlex.quote(str(p))} {shlex.quote(str(p) + '.old')}"
                       for p in paths)


def keys_action(folder: Path, package: str) -> TaskFailed | None:
    """doit action: provision the pair and say what happened."""
    try:
        created = provision_keys(folder, package)
    except FileExistsError as exc:
        return TaskFailed(str(exc))
    for path in created:
        print(f"created {path} (mode {oct(path.stat().st_mode & 0o777)})")
    if not created:
        print(f"{folder}: key pair of {package} already present, left as it is")
    return None


