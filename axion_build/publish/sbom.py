"""The CycloneDX SBOM of one pushed image: OS packages, Python distributions, and the
first-party compiled modules with their source and `.so` hashes (pure, but for
`python_distributions` and `image_contents`, which read the image's files)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path

DPKG_STATUS = "/var/lib/dpkg/status"
VENV_LIB = "/opt/venv/lib"
KIND = "axion:kind"  # the property telling the three kinds of component apart
KINDS = {"os-package": "os_packages", "python-distribution": "python_distributions",
         "compiled-module": "compiled_modules"}
SOURCE_SHA = "axion:source-sha256"
FINGERPRINT = "axion:toolchain-fingerprint"


@dataclass(frozen=True)
class Package:
    """An installed OS or Python package."""

    name: str
    version: str
    arch: str = ""


@dataclass(frozen=True)
class CompiledModule:
    """A first-party module as the compiled manifest records it."""

    path: str
    so_sha256: str
    source_sha256: str
    fingerprint: str


def dpkg_packages(status: str) -> list[Package]:
    """Installed packages of a dpkg status file (its stanzas), sorted by name."""
    found = []
    for stanza in status.split("\n\n"):
        fields = HeaderParser().parsestr(stanza.strip() + "\n")
        if fields.get("Package") and "installed" in (fields.get("Status") or "").split():
            found.append(Package(fields["Package"], fields.get("Version", ""),
                                 fields.get("Architecture", "")))
    return sorted(found, key=lambda p: (p.name, p.arch))


def python_distributions(venv_lib: Path) -> list[Package]:
    """Name and version of every `*.dist-info/METADATA` under a venv's lib folder."""
    found = set()
    for metadata in venv_lib.glob("python*/site-packages/*.dist-info/METADATA"):
        fields = HeaderParser().parsestr(metadata.read_text(errors="replace"))
        if fields.get("Name"):
            found.add(Package(fields["Name"], fields.get("Version", "")))
    return sorted(found, key=lambda p: p.name.lower())


def compiled_modules(manifest: dict) -> list[CompiledModule]:
    """Every module of a compiled manifest (compiled.json) with its hashes."""
    sources = manifest.get("source_sha256") or {}
    return [CompiledModule(path, manifest["sha256"][path], sources.get(path, ""),
                           manifest.get("fingerprint", ""))
            for path in manifest.get("modules", [])]


def image_contents(image: str, platform: str) -> tuple[list[Package], list[Package]]:
    """(OS packages, Python distributions) read from an image's filesystem, copied out of
    a container that is created, never started."""
    from axion_build.adapters.builder import copy_from_image

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        copy_from_image(image, platform, (DPKG_STATUS, VENV_LIB), root)
        status = root / DPKG_STATUS.lstrip("/")
        text = status.read_text(errors="replace") if status.is_file() else ""
        return dpkg_packages(text), python_distributions(root / VENV_LIB.lstrip("/"))
