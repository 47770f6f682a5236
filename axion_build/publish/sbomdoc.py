"""The SBOM as a CycloneDX 1.6 JSON document, and what a reader takes back out of it (pure)."""

from __future__ import annotations

from collections import Counter

from axion_build.publish.sbom import (
    FINGERPRINT,
    KIND,
    KINDS,
    SOURCE_SHA,
    CompiledModule,
    Package,
)

SCHEMA_VERSION = "1.6"


def sbom_json(image: str, digest: str, platform: str, os_packages: list[Package],
              python: list[Package], modules: list[CompiledModule]) -> str:
    """The CycloneDX JSON of one image (by digest) of one platform."""
    from cyclonedx.model import HashAlgorithm, HashType, Property
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.output.json import JsonV1Dot6
    from packageurl import PackageURL

    def kind(value: str) -> list[Property]:
        return [Property(name=KIND, value=value)]

    bom = Bom()
    bom.metadata.component = Component(
        name=image, version=digest, type=ComponentType.CONTAINER, bom_ref=f"image:{digest}",
        properties=[Property(name="axion:platform", value=platform)])
    for pkg in os_packages:
        qualifiers = {"arch": pkg.arch} if pkg.arch else {}
        bom.components.add(Component(
            name=pkg.name, version=pkg.version, type=ComponentType.LIBRARY,
            bom_ref=f"deb:{pkg.name}:{pkg.arch}", properties=kind("os-package"),
            purl=PackageURL(type="deb", namespace="debian", name=pkg.name,
                            version=pkg.version, qualifiers=qualifiers)))
    for pkg in python:
        bom.components.add(Component(
            name=pkg.name, version=pkg.version, type=ComponentType.LIBRARY,
            bom_ref=f"pypi:{pkg.name}", properties=kind("python-distribution"),
            purl=PackageURL(type="pypi", name=pkg.name.lower(), version=pkg.version)))
    for module in modules:
        extra = [Property(name=FINGERPRINT, value=module.fingerprint)]
        if module.source_sha256:  # the shared Cython utility module has no source file
            extra.append(Property(name=SOURCE_SHA, value=module.source_sha256))
        bom.components.add(Component(
            name=module.path, type=ComponentType.LIBRARY, bom_ref=f"module:{module.path}",
            hashes=[HashType(alg=HashAlgorithm.SHA_256, content=module.so_sha256)],
            properties=[*kind("compiled-module"), *extra]))
    bom.register_dependency(bom.metadata.component, list(bom.components))
    return JsonV1Dot6(bom).output_as_string(indent=1)


def properties(component: dict) -> dict[str, str]:
    """A component's properties as a mapping."""
    return {p["name"]: p.get("value", "") for p in component.get("properties") or []}


def component_counts(document: dict) -> dict[str, int]:
    """How many OS packages, Python distributions and compiled modules an SBOM lists."""
    found = Counter(properties(c).get(KIND, "") for c in document.get("components") or [])
    return {label: found.get(kind, 0) for kind, label in KINDS.items()}


def module_hashes(document: dict) -> dict[str, tuple[str, str]]:
    """{module path: (.so sha256, source sha256)} of an SBOM's compiled modules."""
    found = {}
    for component in document.get("components") or []:
        props = properties(component)
        if props.get(KIND) != "compiled-module":
            continue
        so = next((h["content"] for h in component.get("hashes") or []
                   if h.get("alg") == "SHA-256"), "")
        found[component["name"]] = (so, props.get(SOURCE_SHA, ""))
    return found


def schema_problems(text: str) -> str:
    """Why a document is not valid CycloneDX 1.6 JSON ('' when it is)."""
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    return str(error) if error else ""
