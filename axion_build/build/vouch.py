"""Whether an image in the registry is this checkout's build, vouched for by a trusted key:
signed by one, with an SBOM and a provenance attestation signed by one, and the
provenance's inputs hash equal to the hash this checkout computes for that target and
platform. An image that passes is what this checkout would build; anything else (an
unsigned or foreign image, an older signed build replayed under this build's tag) is
rebuilt here, refused by `verify`, and never signed by the push.
"""

from __future__ import annotations

from axion_build.adapters.registry import RegistryClient, RegistryError, platform_name
from axion_build.adapters.signatures import attested, read_manifest, signer
from axion_build.config.publickeys import PublicKey

CYCLONEDX = "https://cyclonedx.org/bom"
SLSA = "https://slsa.dev/provenance/v0.2"


def recorded_inputs(provenance: dict) -> str:
    """The inputs hash a provenance predicate records ('' when none)."""
    return str((provenance.get("buildConfig") or {}).get("inputs_hash", ""))


def attestation_problem(found: dict[str, dict], inputs: str) -> str:
    """Why verified attestations do not vouch for a build of `inputs` ('' when they do) —
    pure."""
    if SLSA not in found:
        return "no provenance attestation signed by a trusted key"
    if CYCLONEDX not in found:
        return "no SBOM attestation signed by a trusted key"
    recorded = recorded_inputs(found[SLSA])
    if recorded != inputs:
        return (f"its provenance records inputs {recorded[:16] or '(none)'}, this checkout's "
                f"are {inputs[:16]}: an older or another build")
    return ""


def image_problem(client: RegistryClient, repository: str, digest: str,
                  keys: tuple[PublicKey, ...], inputs: str, sbom: bool = True) -> str:
    """Why `repository@digest` is not this build of `inputs` ('' when it is); `sbom=False`
    skips reading the SBOM, for checks that only decide whether to build."""
    key, why = signer(client, repository, digest, keys)
    if key is None:
        return why
    only = () if sbom else (SLSA,)
    found = attested(client, repository, digest, keys, only)
    if not sbom and SLSA in found:
        found.setdefault(CYCLONEDX, {})
    return attestation_problem(found, inputs)


def list_problem(client: RegistryClient, repository: str, digest: str,
                 keys: tuple[PublicKey, ...], inputs: dict[str, str], sbom: bool = True) -> str:
    """Why the manifest list `repository@digest` is not this build (its signature, and each
    platform image of `inputs`, platform → inputs hash), '' when it is."""
    key, why = signer(client, repository, digest, keys)
    if key is None:
        return f"manifest list: {why}"
    manifest, _ = read_manifest(client, repository, digest)
    children = {platform_name(c["platform"]): c["digest"]
                for c in manifest.get("manifests") or []
                if (c.get("platform") or {}).get("os") not in (None, "unknown")}
    if set(children) != set(inputs):
        return (f"manifest list holds {', '.join(sorted(children)) or 'no image'}, this build "
                f"is {', '.join(sorted(inputs))}")
    for platform, child in sorted(children.items()):
        if why := image_problem(client, repository, child, keys, inputs[platform], sbom):
            return f"{platform} image {child[:19]}: {why}"
    return ""


def tag_problem(client: RegistryClient, repository: str, tag: str,
                keys: tuple[PublicKey, ...], inputs: str) -> tuple[str, str]:
    """(digest, '') when `repository:tag` is this build of `inputs`, else (digest or '',
    why not); the digest is of the bytes read, so what passed is what a pull by digest gets."""
    try:
        manifest, digest = read_manifest(client, repository, tag)
        if not manifest:
            return "", "the registry does not hold it"
        return digest, image_problem(client, repository, digest, keys, inputs, sbom=False)
    except RegistryError as exc:
        return "", str(exc)
