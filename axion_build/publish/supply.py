"""After a push: the image's SBOM and provenance in the build folder, its digest signed
and both documents attached to it as signed attestations (cosign, key pair, no tlog)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from axion_build.adapters.fs import write_atomic
from axion_build.build.compile import manifest_path, platform_dir
from axion_build.build.signkeys import sign_in_process
from axion_build.config.model import PackageConfig
from axion_build.names import CADDY_TARGET

SIG_SUFFIXES = (".sig", ".att")  # cosign's tags beside an image: signature, attestations


def supply_dir(cfg: PackageConfig, platform: str) -> Path:
    """Where a platform's SBOMs and provenance statements are written."""
    return platform_dir(cfg, platform) / "supply"


def sbom_path(cfg: PackageConfig, platform: str, target: str) -> Path:
    """The CycloneDX SBOM of one target's last pushed image."""
    return supply_dir(cfg, platform) / f"{target}.cdx.json"


def provenance_path(cfg: PackageConfig, platform: str, target: str) -> Path:
    """The in-toto provenance statement of one target's last pushed image."""
    return supply_dir(cfg, platform) / f"{target}.provenance.json"


def cosign_tag(digest: str, suffix: str) -> str:
    """The tag cosign keeps a digest's signature (`.sig`) or attestations (`.att`) under."""
    return digest.replace(":", "-") + suffix


def utc_stamp() -> str:
    """Now, as an RFC 3339 UTC timestamp."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_documents(cfg: PackageConfig, target: str, platform: str, image: str, ref: str,
                    digest: str, started: str) -> tuple[dict, dict]:
    """Write the SBOM and the provenance statement of one pushed image; (SBOM, statement)."""
    from axion_build.publish.provenance import build_facts, statement
    from axion_build.publish.sbom import compiled_modules, image_contents
    from axion_build.publish.sbomdoc import sbom_json

    compiled = json.loads(manifest_path(cfg, platform).read_text())
    # the Caddy image holds the web files and the Caddyfile, no compiled code
    modules = [] if target == CADDY_TARGET else compiled_modules(compiled)
    os_packages, python = image_contents(image, platform)
    text = sbom_json(ref, digest, platform, os_packages, python, modules)
    write_atomic(sbom_path(cfg, platform, target), text)
    facts = build_facts(cfg, target, platform, image, compiled, (started, utc_stamp()))
    whole = statement(ref, digest, facts)
    write_atomic(provenance_path(cfg, platform, target),
                 json.dumps(whole, indent=1, sort_keys=True))
    return json.loads(text), whole


def sign_and_attest(cfg: PackageConfig, target: str, platform: str, ref: str, digest: str,
                    provenance: dict) -> None:
    """Sign `ref@digest` and attach its SBOM and provenance, with the package's cosign key,
    in this process (a newer statement of a type replaces this key's older one)."""
    from axion_build.adapters.insign import SigningJob, attestation

    sbom = json.loads(sbom_path(cfg, platform, target).read_text())
    sign_in_process(cfg, [SigningJob(ref, digest, (
        attestation("cyclonedx", sbom),
        attestation("slsaprovenance", provenance["predicate"])), replace=True)])


def sign_digest(cfg: PackageConfig, ref: str, digest: str) -> None:
    """Sign `ref@digest` (an image or a manifest list) with the package's cosign key."""
    from axion_build.adapters.insign import SigningJob

    sign_in_process(cfg, [SigningJob(ref, digest)])


def publish_supply(cfg: PackageConfig, target: str, platform: str, image: str, ref: str,
                   digest: str, started: str) -> dict:
    """SBOM, provenance, signature and attestations of one pushed image; the values the
    build records keep (signed, SBOM component counts, the files written)."""
    from axion_build.publish.sbomdoc import component_counts

    sbom, provenance = write_documents(cfg, target, platform, image, ref, digest, started)
    sign_and_attest(cfg, target, platform, ref, digest, provenance)
    return {"signed": "yes", "sbom": component_counts(sbom),
            "sbom_file": str(sbom_path(cfg, platform, target)),
            "provenance_file": str(provenance_path(cfg, platform, target))}
