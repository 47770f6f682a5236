"""The CycloneDX SBOM of one pushed image: OS packages, Python distributions, and the
first-party compiled modules with their source and `.so` hashes (pure, but for
`image_contents`, which reads the image's files without running it)."""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass
from email.parser import HeaderParser

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


def tar_member(stream: bytes, name: str) -> str:
    """The text of the file called `name` (its base name) in a `docker cp` tar stream."""
    if not stream:
        return ""
    with tarfile.open(fileobj=io.BytesIO(stream)) as archive:
        for member in archive:
            if member.isfile() and member.name.rsplit("/", 1)[-1] == name:
                handle = archive.extractfile(member)
                return handle.read().decode("utf-8", "replace") if handle else ""
    return ""


def python_distributions(stream: bytes) -> list[Package]:
    """Name and version of every `*.dist-info/METADATA` in a tar stream of the venv."""
    found = set()
    if not stream:
        return []
    with tarfile.open(fileobj=io.BytesIO(stream)) as archive:
        for member in archive:
            parts = member.name.split("/")
            if not (member.isfile() and len(parts) >= 2 and parts[-1] == "METADATA"
                    and parts[-2].endswith(".dist-info")):
                continue
            handle = archive.extractfile(member)
            fields = HeaderParser().parsestr(handle.read().decode("utf-8", "replace"))
            if fields.get("Name"):
                found.add(Package(fields["Name"], fields.get("Version", "")))
    return sorted(found, key=lambda p: p.name.lower())


def compiled_modules(manifest: dict) -> list[CompiledModule]:
    """Every module of a compiled manifest (compiled.json) with its hashes."""
    sources = manifest.get("source_sha256") or {}
    return [CompiledModule(path, manifest["sha256"][path], sources.get(path, ""),
                           manifest.get("fingerprint", ""))
            for path in manifest.get("modules", [])]


def image_contents(image: str) -> tuple[list[Package], list[Package]]:
    """(OS packages, Python distributions) read from an image's filesystem."""
    from axion_build.adapters import docker

    streams = docker.copy_from_image(image, [DPKG_STATUS, VENV_LIB])
    return (dpkg_packages(tar_member(streams[DPKG_STATUS], "status")),
            python_distributions(streams[VENV_LIB]))
