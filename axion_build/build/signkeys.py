"""The cosign key pair of a package in `data.config/`: made once, 0600, never overwritten.

The pair is made by cosign in a private folder beside its final place, then linked into
place (a link never replaces a file), so a half-written or clobbered key cannot happen.
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
from pathlib import Path

from doit.exceptions import TaskFailed

from axion_build.adapters.cosign import CosignError, generate_command, run_cosign
from axion_build.adapters.cosignkey import SigningKey, SigningKeyError, load_signing_key
from axion_build.adapters.insign import SigningJob, sign_many
from axion_build.adapters.registrywrite import writer_for
from axion_build.build.keys import exposed_key_problem, pair_present
from axion_build.config.model import PackageConfig
from axion_build.config.publickeys import PublicKey, readable_keys


def cosign_key_paths(folder: Path, package: str) -> tuple[Path, Path]:
    """Private and public cosign key files of `package` in `folder`."""
    return folder / f"{package}_cosign.key", folder / f"{package}_cosign.pub"


def key_folder(cfg: PackageConfig) -> Path:
    """Where a package's keys live: its app tree's data.config/ (never in an image)."""
    return cfg.app_root / "data.config"


def signing_password(cfg: PackageConfig) -> str:
    """The cosign key password: `signing.password` (AXION_SIGNING_PASSWORD), else
    COSIGN_PASSWORD of the environment, else none."""
    return cfg.signing.password or os.environ.get("COSIGN_PASSWORD", "")


def provision_cosign_keys(folder: Path, package: str, password: str) -> list[Path]:
    """Create the cosign pair; keep an existing pair; refuse to complete half a pair."""
    private, public = cosign_key_paths(folder, package)
    if pair_present(private, public, package):
        return []
    folder.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".cosign-", dir=folder))
    try:
        os.chmod(work, 0o700)
        run_cosign(generate_command("pair"), password=password, cwd=work)
        os.chmod(work / "pair.key", 0o600)
        os.chmod(work / "pair.pub", 0o644)
        os.link(work / "pair.key", private)
        try:
            os.link(work / "pair.pub", public)
        except BaseException:
            private.unlink()
            raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return [private, public]


def cosign_key_problem(folder: Path, package: str) -> tuple[str, str]:
    """(why the cosign pair is unusable, the fix); ('', '') when both are there and the
    private key is readable by its owner only."""
    private, public = cosign_key_paths(folder, package)
    missing = [p.name for p in (private, public) if not p.is_file()]
    if missing:
        return (f"missing cosign key file(s) {', '.join(missing)} in {folder}",
                f"run 'axion keys {package}' (or 'doit keys:{package}'); with half a pair "
                "present, move it away first")
    return exposed_key_problem(private)


def cosign_key_material(private_key: Path) -> tuple[str, ...]:
    """Lines of a cosign private key a copy of it contains. Its first body line is the
    same for every cosign key (the scrypt parameters), so two later lines are taken."""
    if not private_key.is_file():
        return ()
    lines = [line.strip() for line in private_key.read_text().splitlines()]
    body = [line for line in lines if line and not line.startswith("-----")]
    return tuple(body[2:4])


def cosign_keys_action(cfg: PackageConfig) -> TaskFailed | None:
    """doit action: provision the cosign pair and say what happened."""
    folder = key_folder(cfg)
    try:
        created = provision_cosign_keys(folder, cfg.name, signing_password(cfg))
    except (FileExistsError, CosignError, OSError) as exc:
        return TaskFailed(str(exc))
    for path in created:
        print(f"created {path} (mode {oct(path.stat().st_mode & 0o777)})")
    if not created:
        print(f"{folder}: cosign key pair of {cfg.name} already present, left as it is")
    return None


def trusted_keys(cfg: PackageConfig) -> tuple[PublicKey, ...]:
    """The public keys whose signatures this checkout accepts: its own cosign key (when
    made) and every `cache.trusted_keys` file; an unusable listed file is left out
    (validate names it)."""
    _, own = cosign_key_paths(key_folder(cfg), cfg.name)
    return readable_keys((own, *cfg.cache.trusted_keys))


def usable_signing_key(cfg: PackageConfig) -> Path:
    """The package's cosign private key; CosignError naming the fix when it is missing or
    open to group or others (a key others can read signs nothing)."""
    key, _ = cosign_key_paths(key_folder(cfg), cfg.name)
    if not key.is_file():
        raise CosignError(f"no cosign key {key}: run 'axion keys {cfg.name}' (or 'doit "
                          f"keys:{cfg.name}:cosign'), then push again")
    problem, fix = exposed_key_problem(key)
    if problem:
        raise CosignError(f"{problem}: refusing to sign with it; {fix}, then push again")
    return key


@functools.lru_cache(maxsize=4)
def opened_key(path: str, changed: int, password: str) -> SigningKey:
    """The cosign key at `path` opened once per process and content (`changed`: its
    mtime in ns): scrypt makes each opening cost a few tenths of a second."""
    return load_signing_key(Path(path), password)


def sign_in_process(cfg: PackageConfig, jobs: list[SigningJob]) -> None:
    """Sign and attest every job with the package's cosign key, concurrently, in this
    process (what cosign would write); CosignError naming each job that failed."""
    private = usable_signing_key(cfg)
    try:
        key = opened_key(str(private), private.stat().st_mtime_ns, signing_password(cfg))
    except SigningKeyError as exc:
        raise CosignError(str(exc)) from None
    failed = [o.error for o in sign_many(writer_for(cfg.registry), key, jobs) if o.error]
    if failed:
        raise CosignError("; ".join(failed))
