"""Secret guard: no PEM private key and no configured secret in any part of an image.

Each layer's files, the history, the config (env, labels, command) are scanned.
A layer's files are scanned once: clean layers are remembered by their folder.
"""

from __future__ import annotations

import json
import os
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from axion_build.adapters.fs import write_atomic
from axion_build.build.keys import key_paths
from axion_build.build.secretscan import PEM_PRIVATE, scan_bytes, scan_stream
from axion_build.build.signkeys import cosign_key_material, cosign_key_paths
from axion_build.config.model import PackageConfig

__all__ = ["PEM_PRIVATE", "Finding", "guard_image", "scan_bytes", "scan_folder", "scan_saved"]

# bump when what counts as a finding changes: layers known clean are scanned again
RULES_VERSION = b"3"
# shorter values would match by chance in binaries; they are reported as unguardable
MIN_SECRET_LENGTH = 8


@dataclass(frozen=True)
class Finding:
    """A secret seen in an image: which image, where, what."""

    image: str
    place: str
    what: str

    def __str__(self) -> str:
        return f"{self.image}: {self.what} in {self.place}"


def guarded_secrets(values: tuple[str, ...]) -> tuple[bytes, ...]:
    """Secret values long enough to be searched for reliably."""
    return tuple(v.encode() for v in values if len(v) >= MIN_SECRET_LENGTH)


def key_material(private_key: Path) -> tuple[str, ...]:
    """Lines of a private key's base64 body: a copy of the key anywhere contains them."""
    if not private_key.is_file():
        return ()
    lines = [line.strip() for line in private_key.read_text().splitlines()]
    return tuple(line for line in lines if line and not line.startswith("-----"))[:2]


def guarded_values(cfg: PackageConfig) -> tuple[str, ...]:
    """What the secret guard looks for besides any PEM private key: the configured
    secrets and lines of the package's PEM and cosign private keys."""
    folder = cfg.app_root / "data.config"
    return (*cfg.secrets(), *key_material(key_paths(folder, cfg.name)[0]),
            *cosign_key_material(cosign_key_paths(folder, cfg.name)[0]))


def scan_folder(root: Path, secrets: tuple[bytes, ...]) -> list[tuple[str, str]]:
    """(path in the image, what) for every file under a layer folder holding a secret;
    a file the guard cannot read is a finding too."""
    found = []
    for path in root.rglob("*"):
        if not path.is_file() or path.is_symlink():
            continue
        inside = "/" + path.relative_to(root).as_posix()
        try:
            with path.open("rb") as handle:
                what = scan_stream(handle, secrets, inside)
        except OSError as exc:
            what = f"a file the guard cannot read ({exc.strerror or exc})"
        if what:
            found.append((inside, what))
    return found


def scan_layer_tar(layer_file, secrets: tuple[bytes, ...]) -> list[tuple[str, str]]:
    """Like scan_folder, for a layer exported as a tar file (read, never extracted)."""
    found = []
    with tarfile.open(fileobj=layer_file) as layer:
        for member in layer:
            if not member.isfile():
                continue
            handle = layer.extractfile(member)
            inside = "/" + member.name.lstrip("./")
            what = scan_stream(handle, secrets, inside) if handle else ""
            if what:
                found.append((inside, what))
    return found


def scan_metadata(image: str, inspect: dict, history: list[str],
                  secrets: tuple[bytes, ...]) -> list[Finding]:
    """Env, labels, command and every history step of an image."""
    config = inspect.get("Config") or {}
    places = {"env": "\n".join(config.get("Env") or []),
              "labels": json.dumps(config.get("Labels") or {}),
              "command": json.dumps([config.get("Entrypoint"), config.get("Cmd")])}
    places.update({f"history step {i + 1}": step for i, step in enumerate(history)})
    findings = []
    for place, text in places.items():
        what = scan_bytes(text.encode(), secrets)
        if what:
            findings.append(Finding(image, place, what))
    return findings


def guard_image(image: str, secret_values: tuple[str, ...], clean_cache: Path) -> list[Finding]:
    """Every secret in `image`; layers already known clean are skipped."""
    from axion_build.adapters import docker

    secrets = guarded_secrets(secret_values)
    inspect = docker.inspect_image(image)
    findings = scan_metadata(image, inspect, docker.image_history(image), secrets)
    known = load_clean(clean_cache, secrets)
    layer_dirs = overlay_layers(inspect)
    if layer_dirs is None:
        findings += scan_saved(image, secrets)
    else:
        for index, folder in enumerate(layer_dirs):
            if str(folder) in known:
                continue
            hits = scan_folder(folder, secrets)
            findings += [Finding(image, f"layer {index + 1}, file {p}", w) for p, w in hits]
            if not hits:
                known.add(str(folder))
        save_clean(clean_cache, secrets, known)
    return findings


def overlay_layers(inspect: dict) -> list[Path] | None:
    """The image's layer folders, base first, when the engine's overlay2 folders are readable."""
    driver = inspect.get("GraphDriver") or {}
    data = driver.get("Data") or {}
    if driver.get("Name") != "overlay2" or not data.get("UpperDir"):
        return None
    folders = [Path(p) for p in reversed((data.get("LowerDir") or "").split(":")) if p]
    folders.append(Path(data["UpperDir"]))
    try:  # not root: the engine's folders are not ours to read, the saved image is
        if not all(f.is_dir() and os.access(f, os.R_OK | os.X_OK) for f in folders):
            return None
    except OSError:
        return None
    return folders


def scan_saved(image: str, secrets: tuple[bytes, ...]) -> list[Finding]:
    """Scan an image exported with `docker save` (engines without readable layers)."""
    from axion_build.adapters import docker

    findings = []
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "image.tar"
        docker.save_image(image, archive)
        # read in place: nothing of the image is written out (no path of it is trusted)
        with tarfile.open(archive) as whole:
            manifest = json.loads(whole.extractfile("manifest.json").read())[0]
            for index, layer in enumerate(manifest["Layers"]):
                hits = scan_layer_tar(whole.extractfile(layer), secrets)
                findings += [Finding(image, f"layer {index + 1}, file {p}", w) for p, w in hits]
    return findings


def load_clean(cache: Path, secrets: tuple[bytes, ...]) -> set[str]:
    """Layer folders known clean for this set of secrets."""
    try:
        data = json.loads(cache.read_text())
    except (OSError, ValueError):
        return set()
    return set(data.get(secrets_key(secrets), []))


def save_clean(cache: Path, secrets: tuple[bytes, ...], known: set[str]) -> None:
    """Remember clean layer folders (keyed by the secrets searched for)."""
    write_atomic(cache, json.dumps({secrets_key(secrets): sorted(known)}))


def secrets_key(secrets: tuple[bytes, ...]) -> str:
    """A digest naming the set of secrets (never the secrets themselves)."""
    import hashlib

    return hashlib.sha256(b"\0".join([RULES_VERSION, *sorted(secrets)])).hexdigest()[:16]
