"""Secret guard: no PEM private key and no configured secret in any part of an image.

Each layer's files, the history, the config (env, labels, command) are scanned.
A layer's files are scanned once: clean layers are remembered by their folder.
"""

from __future__ import annotations

import os
from axion_build.adapters.fs import write_atomic

import json
import re
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

PEM_PRIVATE = re.compile(
    rb"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----\s+(?:[A-Za-z0-9+/=]{16,}\s+){2,}")
ELF_MAGIC = b"\x7fELF"
SYSTEM_LIBRARY_DIRS = ("/usr/lib/", "/lib/", "/usr/lib64/", "/lib64/")
# bump when what counts as a finding changes: layers known clean are scanned again
RULES_VERSION = b"2"
# shorter values would match by chance in binaries; they are reported as unguardable
MIN_SECRET_LENGTH = 8
MAX_FILE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Finding:
    """A secret seen in an image: which image, where, what."""

    image: str
    place: str
    what: str

    def __str__(self) -> str:
        return f"{self.image}: {self.what} in {self.place}"


def scan_bytes(data: bytes, secrets: tuple[bytes, ...], path: str = "") -> str:
    """What secret `data` (the file at `path` in the image) holds, '' when none — pure.

    System libraries may embed vendor self-test keys (libgnutls does), so a PEM block
    in an ELF file under a system library folder is not a finding; anywhere else (a
    compiled app module, the venv) it is. The package's own key material is a secret
    value and is found in any file.
    """
    if (b"PRIVATE KEY-----" in data and PEM_PRIVATE.search(data)
            and not (data.startswith(ELF_MAGIC) and path.startswith(SYSTEM_LIBRARY_DIRS))):
        return "a PEM private key"
    for secret in secrets:
        if secret in data:
            return "a configured secret value"
    return ""


def guarded_secrets(values: tuple[str, ...]) -> tuple[bytes, ...]:
    """Secret values long enough to be searched for reliably."""
    return tuple(v.encode() for v in values if len(v) >= MIN_SECRET_LENGTH)


def key_material(private_key: Path) -> tuple[str, ...]:
    """Lines of a private key's base64 body: a copy of the key anywhere contains them."""
    if not private_key.is_file():
        return ()
    lines = [line.strip() for line in private_key.read_text().splitlines()]
    return tuple(line for line in lines if line and not line.startswith("-----"))[:2]


def scan_folder(root: Path, secrets: tuple[bytes, ...]) -> list[tuple[str, str]]:
    """(path in the image, what) for every file under a layer folder holding a secret."""
    found = []
    for path in root.rglob("*"):
        if not path.is_file() or path.is_symlink():
            continue
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                continue
            inside = "/" + path.relative_to(root).as_posix()
            what = scan_bytes(path.read_bytes(), secrets, inside)
        except OSError:
            continue
        if what:
            found.append((inside, what))
    return found


def scan_layer_tar(layer_file, secrets: tuple[bytes, ...]) -> list[tuple[str, str]]:
    """Like scan_folder, for a layer exported as a tar file (read, never extracted)."""
    found = []
    with tarfile.open(fileobj=layer_file) as layer:
        for member in layer:
            if not member.isfile() or member.size > MAX_FILE_BYTES:
                continue
            handle = layer.extractfile(member)
            inside = "/" + member.name.lstrip("./")
            what = scan_bytes(handle.read(), secrets, inside) if handle else ""
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
