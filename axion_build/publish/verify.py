"""`verify:<package>`: every image of the package in the registry is signed with the
package's cosign key, carries an SBOM and a provenance attestation for its own digest,
and its SBOM's compiled modules are the compiled tree's, hash for hash."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path

from doit.exceptions import TaskFailed

from axion_build.config.model import PackageConfig, native_platform
from axion_build.names import CADDY_TARGET
from axion_build.publish.ownkey import signature_problem

CYCLONEDX = "https://cyclonedx.org/bom"
SLSA = "https://slsa.dev/provenance/v0.2"


@dataclass(frozen=True)
class Verdict:
    """What verification found of one image: '' when it passed, else the failure."""

    image: str
    failure: str = ""

    def line(self) -> str:
        """One line of output naming the image and its result."""
        if not self.failure:
            return f"ok      {self.image}"
        return f"FAILED  {self.image}: {self.failure}"


def statements(output: str) -> list[dict]:
    """The in-toto statements in `cosign verify-attestation` output (DSSE envelopes)."""
    found = []
    for line in filter(str.strip, output.splitlines()):
        envelope = json.loads(line)
        found.append(json.loads(base64.b64decode(envelope["payload"])))
    return found


def for_digest(found: list[dict], digest: str, predicate_type: str) -> tuple[dict | None, str]:
    """(the predicate of the statement about `digest`, '') or (None, why there is none)."""
    wanted = digest.removeprefix("sha256:")
    typed = [s for s in found if s.get("predicateType") == predicate_type]
    if not typed:
        return None, f"no {predicate_type} attestation"
    for item in typed:
        if any((s.get("digest") or {}).get("sha256") == wanted for s in item.get("subject", [])):
            return item.get("predicate") or {}, ""
    return None, f"the {predicate_type} attestation is about another digest"


def module_problem(listed: dict[str, tuple[str, str]], compiled: dict[str, str],
                   sources: dict[str, str]) -> str:
    """Why an SBOM's modules are not the compiled tree's ('' when they are) — pure."""
    missing = sorted(set(compiled) - set(listed))
    extra = sorted(set(listed) - set(compiled))
    if missing or extra:
        return (f"SBOM modules differ from the compiled tree (missing: "
                f"{', '.join(missing) or '-'}; not compiled here: {', '.join(extra) or '-'})")
    wrong = sorted(p for p, (so, _) in listed.items() if so != compiled[p])
    if wrong:
        return f"SBOM .so sha256 differs from the compiled tree for {', '.join(wrong)}"
    wrong = sorted(p for p, (_, src) in listed.items() if src != sources.get(p, ""))
    if wrong:
        return f"SBOM source sha256 differs from the compiled manifest for {', '.join(wrong)}"
    return ""


def compiled_hashes(cfg: PackageConfig, platform: str) -> tuple[dict[str, str], dict[str, str]]:
    """({module: .so sha256} of the compiled tree's files, {module: source sha256} of
    its manifest); both empty when nothing was compiled for `platform`."""
    from axion_build.build.compile import compiled_dir, file_sha256, manifest_path

    root, manifest = compiled_dir(cfg, platform), manifest_path(cfg, platform)
    if not manifest.is_file():
        return {}, {}
    files = {p.relative_to(root).as_posix(): file_sha256(p)
             for p in sorted(root.rglob("*.so"))}
    return files, json.loads(manifest.read_text()).get("source_sha256") or {}


def sbom_problem(cfg: PackageConfig, target: str, sbom: dict) -> str:
    """Why the SBOM's modules are not this checkout's compiled tree ('' when they are)."""
    from axion_build.publish.sbomdoc import module_hashes, properties

    listed = module_hashes(sbom)
    if target == CADDY_TARGET:
        return f"the Caddy image's SBOM lists modules: {', '.join(listed)}" if listed else ""
    image = (sbom.get("metadata") or {}).get("component") or {}
    platform = properties(image).get("axion:platform") or native_platform()
    files, sources = compiled_hashes(cfg, platform)
    if not files:
        return (f"no compiled tree for {platform} in {cfg.build_dir} to compare the SBOM "
                f"with: run 'doit compile:{cfg.name}' first")
    return module_problem(listed, files, sources)


def verify_image(cfg: PackageConfig, target: str, repo: str, ref: str, digest: str,
                 public: Path) -> str:
    """Why one image fails verification ('' when it passes)."""
    from axion_build.adapters.cosign import CosignError, run_cosign, verify_attestation_command

    image, insecure = f"{ref}@{digest}", cfg.registry.insecure
    if why := signature_problem(public, image, insecure):
        return why
    found: list[dict] = []
    for kind in ("cyclonedx", "slsaprovenance"):
        try:
            found += statements(run_cosign(verify_attestation_command(public, image, kind,
                                                                      insecure)))
        except CosignError as exc:
            return f"no verified {kind} attestation: {exc}"
    sbom, why = for_digest(found, digest, CYCLONEDX)
    if sbom is None:
        return why
    provenance, why = for_digest(found, digest, SLSA)
    if provenance is None:
        return why
    return provenance_problem(cfg, repo, digest, provenance) or sbom_problem(cfg, target, sbom)


def platform_images(cfg: PackageConfig, repo: str, digest: str) -> list[tuple[str, str]]:
    """(platform, digest) of each image of a manifest list; [] for a single image."""
    from axion_build.adapters.registry import client_for, platform_name

    data, _, _ = client_for(cfg.registry).manifest(repo, digest)
    return [(platform_name(child["platform"]), child["digest"])
            for child in data.get("manifests") or []
            if (child.get("platform") or {}).get("os") not in (None, "unknown")]


def verify_published(cfg: PackageConfig, target: str, repo: str, ref: str, digest: str,
                     public: Path) -> str:
    """Why an image, or a manifest list and each of its platform images, fails ('' if none)."""
    from axion_build.adapters.registry import RegistryError

    try:
        children = platform_images(cfg, repo, digest)
    except RegistryError as exc:
        return f"cannot read its manifest: {exc}"
    if not children:
        return verify_image(cfg, target, repo, ref, digest, public)
    if why := signature_problem(public, f"{ref}@{digest}", cfg.registry.insecure):
        return f"manifest list: {why}"
    for platform, child in children:
        if why := verify_image(cfg, target, repo, ref, child, public):
            return f"{platform} image {child}: {why}"
    return ""


def provenance_problem(cfg: PackageConfig, repo: str, digest: str, provenance: dict) -> str:
    """Why the provenance's inputs hash is not the image's own `org.axion.inputs` label, read
    from the registry's config blob of this very digest ('' when it is)."""
    from axion_build.adapters.registry import RegistryError, client_for
    from axion_build.build.images import LABEL_INPUTS

    inputs = (provenance.get("buildConfig") or {}).get("inputs_hash", "")
    if not inputs:
        return "the provenance records no inputs hash"
    try:
        client = client_for(cfg.registry)
        manifest, _, _ = client.manifest(repo, digest)
        config, _ = client.get_json(f"/v2/{repo}/blobs/{manifest['config']['digest']}")
    except (RegistryError, KeyError, ValueError) as exc:
        return f"cannot read the image's config from the registry: {exc}"
    label = ((((config or {}).get("config") or {}).get("Labels")) or {}).get(LABEL_INPUTS, "")
    if label != inputs:
        return (f"the provenance's inputs hash {inputs[:16]} is not the image's "
                f"{LABEL_INPUTS} label ({label[:16] or 'none'})")
    return ""


def registry_images(cfg: PackageConfig) -> list[tuple[str, str, str, str]]:
    """(target, repository, reference, digest of `latest`) of every image of the package
    the registry holds."""
    from axion_build.adapters.registry import manifest_digest
    from axion_build.build.images import image_targets
    from axion_build.publish.push import push_ref, repository

    found = []
    for target in image_targets(cfg):
        repo = repository(cfg, target)
        digest = manifest_digest(cfg.registry, repo, "latest")
        if digest:
            found.append((target, repo, push_ref(cfg, target), digest))
    return found


def failures(cfg: PackageConfig, public: Path,
             images: list[tuple[str, str, str, str]]) -> list[str]:
    """Why each (target, repository, reference, digest) fails verification ('' where it
    passes), in their order; the images are verified concurrently."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda item: verify_published(cfg, *item, public), images))


def refusals(cfg: PackageConfig, images: dict[str, str]) -> dict[str, str]:
    """`repo@sha256:…` → why it does not verify, of each of `images` (target → reference)
    that fails."""
    from axion_build.build.signkeys import cosign_key_paths, key_folder
    from axion_build.publish.push import repository

    _, public = cosign_key_paths(key_folder(cfg), cfg.name)
    if not public.is_file():
        return {image: f"no cosign public key {public} to verify it with"
                for image in images.values()}
    items = [(target, repository(cfg, target), *image.rsplit("@", 1))
             for target, image in images.items()]
    return {f"{ref}@{digest}": why
            for (_, _, ref, digest), why in zip(items, failures(cfg, public, items), strict=True)
            if why}


def verify_package(cfg: PackageConfig) -> TaskFailed | None:
    """doit action: verify every image of the package; one line per image."""
    from axion_build.adapters.registry import RegistryError
    from axion_build.build.signkeys import cosign_key_paths, key_folder

    _, public = cosign_key_paths(key_folder(cfg), cfg.name)
    if not public.is_file():
        return TaskFailed(f"no cosign public key {public}: run 'axion keys {cfg.name}' and "
                          "push, or restore the key the images were signed with")
    try:
        images = registry_images(cfg)
    except RegistryError as exc:
        return TaskFailed(f"verify {cfg.name}: {exc}")
    if not images:
        return TaskFailed(f"verify {cfg.name}: the registry {cfg.registry.url} holds no image "
                          f"of it under {cfg.registry.namespace}/: push first")
    verdicts = [Verdict(f"{ref}:latest@{digest}", why) for (_, _, ref, digest), why
                in zip(images, failures(cfg, public, images), strict=True)]
    for verdict in verdicts:
        print(verdict.line())
    failed = [v for v in verdicts if v.failure]
    if failed:
        return TaskFailed("verification failed for "
                          + "; ".join(f"{v.image}: {v.failure}" for v in failed))
    return None
