"""`verify:<package>`: the whole build is in the registry as this checkout would make it.

Every expected image of the package (every target, every platform of a list) is there,
signed by a trusted key (the package's cosign key, `cache.trusted_keys`), carries an SBOM
and a provenance attestation about its own digest signed by one, the provenance's inputs
hash is the hash this checkout computes for that target and platform (and the image's own
label), and its SBOM's compiled modules are the compiled tree's, hash for hash. The
signatures are checked in this process, against the registry's bytes."""

from __future__ import annotations

import json
from dataclasses import dataclass

from doit.exceptions import TaskFailed

from axion_build.adapters.registry import RegistryClient, RegistryError, client_for
from axion_build.adapters.signatures import attested, read_manifest, signer
from axion_build.build.signkeys import trusted_keys
from axion_build.build.vouch import (
    CYCLONEDX,
    SLSA,
    attestation_problem,
    list_problem,
    recorded_inputs,
)
from axion_build.config.flags import current_flags
from axion_build.config.model import PackageConfig, native_platform
from axion_build.config.publickeys import PublicKey
from axion_build.names import CADDY_TARGET


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


def verify_image(cfg: PackageConfig, target: str, repo: str, digest: str,
                 keys: tuple[PublicKey, ...], inputs: str | None, tree: bool = True) -> str:
    """Why one image fails verification ('' when it passes); `inputs`: the inputs hash its
    provenance must record (None: any, for an older deployment rolled back to); `tree`:
    its SBOM's modules must be this checkout's compiled tree."""
    client = client_for(cfg.registry)
    key, why = signer(client, repo, digest, keys)
    if key is None:
        return why
    found = attested(client, repo, digest, keys)
    expected = inputs if inputs is not None else recorded(found)
    if why := attestation_problem(found, expected):
        return why
    return (provenance_problem(client, repo, digest, found[SLSA])
            or (sbom_problem(cfg, target, found[CYCLONEDX]) if tree else ""))


def recorded(found: dict[str, dict]) -> str:
    """The inputs hash the verified provenance records ('' when none)."""
    return recorded_inputs(found[SLSA]) if SLSA in found else ""


def verify_published(cfg: PackageConfig, target: str, repo: str, digest: str,
                     keys: tuple[PublicKey, ...], inputs: dict[str, str] | None,
                     tree: bool = True) -> str:
    """Why an image, or a manifest list and each of its platform images, fails ('' if none);
    `inputs`: platform → the inputs hash this checkout computes (None: not compared)."""
    client = client_for(cfg.registry)
    try:
        manifest, _ = read_manifest(client, repo, digest)
    except RegistryError as exc:
        return f"cannot read its manifest: {exc}"
    if "manifests" not in manifest:
        platform = next(iter(inputs)) if inputs else ""
        return verify_image(cfg, target, repo, digest, keys,
                            inputs[platform] if inputs else None, tree)
    if inputs is not None:
        if why := list_problem(client, repo, digest, keys, inputs, sbom=False):
            return why
    for platform, child in platform_images(manifest):
        want = inputs.get(platform) if inputs is not None else None
        if why := verify_image(cfg, target, repo, child, keys, want, tree):
            return f"{platform} image {child}: {why}"
    return ""


def platform_images(manifest: dict) -> list[tuple[str, str]]:
    """(platform, digest) of each image of a manifest list (not its attestations)."""
    from axion_build.adapters.registry import platform_name

    return [(platform_name(child["platform"]), child["digest"])
            for child in manifest.get("manifests") or []
            if (child.get("platform") or {}).get("os") not in (None, "unknown")]


def provenance_problem(client: RegistryClient, repo: str, digest: str, provenance: dict) -> str:
    """Why the provenance's inputs hash is not the image's own `org.axion.inputs` label, read
    from the registry's config blob of this very digest ('' when it is)."""
    from axion_build.build.images import LABEL_INPUTS

    inputs = (provenance.get("buildConfig") or {}).get("inputs_hash", "")
    if not inputs:
        return "the provenance records no inputs hash"
    try:
        manifest, _ = read_manifest(client, repo, digest)
        config, _ = client.get_json(f"/v2/{repo}/blobs/{manifest['config']['digest']}")
    except (RegistryError, KeyError, TypeError, ValueError) as exc:
        return f"cannot read the image's config from the registry: {exc}"
    label = ((((config or {}).get("config") or {}).get("Labels")) or {}).get(LABEL_INPUTS, "")
    if label != inputs:
        return (f"the provenance's inputs hash {inputs[:16]} is not the image's "
                f"{LABEL_INPUTS} label ({label[:16] or 'none'})")
    return ""


def expected_inputs(cfg: PackageConfig, target: str) -> dict[str, str]:
    """platform → the inputs hash this checkout computes for `target` ('' where it cannot:
    a base image or the build context is missing)."""
    from axion_build.build.compile import target_platforms
    from axion_build.build.images import engine_facts, expected_hash

    found = {}
    for platform in target_platforms(cfg):
        try:
            found[platform] = expected_hash(cfg, target, platform, engine_facts(cfg, platform))
        except (OSError, ValueError):
            found[platform] = ""
    return found


def expected_images(cfg: PackageConfig) -> list[tuple[str, str, str, str]]:
    """(target, repository, reference, digest of `latest`, '' when missing) of every image
    the package must have in the registry (of the one service `--service` names)."""
    from axion_build.build.images import image_targets
    from axion_build.publish.push import push_ref, repository

    client = client_for(cfg.registry)
    found = []
    service = current_flags().service  # `--service X`: the build of that service alone
    for target in [service] if service in image_targets(cfg) else image_targets(cfg):
        repo = repository(cfg, target)
        _, digest = read_manifest(client, repo, "latest")
        found.append((target, repo, push_ref(cfg, target), digest))
    return found


def whole_build_failure(cfg: PackageConfig, keys: tuple[PublicKey, ...],
                        item: tuple[str, str, str, str]) -> str:
    """Why one expected image of the whole build fails ('' when it passes)."""
    target, repo, _, digest = item
    if not digest:
        return "missing from the registry: push it (doit push:" + cfg.name + ")"
    inputs = expected_inputs(cfg, target)
    if not all(inputs.values()):
        return (f"this checkout cannot compute its inputs hash for "
                f"{', '.join(p for p, h in inputs.items() if not h)} (a base image or the "
                f"build context is missing): run 'doit pipeline:{cfg.name}' first")
    return verify_published(cfg, target, repo, digest, keys, inputs)


def refusals(cfg: PackageConfig, images: dict[str, str], tree: bool = True) -> dict[str, str]:
    """`repo@sha256:…` → why it does not verify, of each of `images` (target → reference)
    that fails: signed and attested by a trusted key, with `tree` its SBOM the compiled
    tree's (its inputs are not compared: a rollback deploys an older build, whose modules
    are not today's tree either)."""
    from concurrent.futures import ThreadPoolExecutor

    from axion_build.publish.push import repository

    keys = trusted_keys(cfg)
    if not keys:
        return {image: "no trusted public key to verify it with (run 'axion keys "
                       f"{cfg.name}')" for image in images.values()}
    items = [(target, repository(cfg, target), image.rsplit("@", 1)[1], image)
             for target, image in images.items()]
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(
            lambda i: verify_published(cfg, i[0], i[1], i[2], keys, None, tree), items))
    return {image: why for (_, _, _, image), why in zip(items, answers, strict=True) if why}


def verify_package(cfg: PackageConfig) -> TaskFailed | None:
    """doit action: verify every expected image of the package; one line per image."""
    from concurrent.futures import ThreadPoolExecutor

    keys = trusted_keys(cfg)
    if not keys:
        return TaskFailed(f"verify {cfg.name}: no trusted public key: run 'axion keys "
                          f"{cfg.name}' and push, or restore the key the images were signed "
                          "with")
    try:
        images = expected_images(cfg)
    except RegistryError as exc:
        return TaskFailed(f"verify {cfg.name}: {exc}")
    if not any(digest for *_, digest in images):
        return TaskFailed(f"verify {cfg.name}: the registry {cfg.registry.url} holds no image "
                          f"of it under {cfg.registry.namespace}/: push first")
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda item: whole_build_failure(cfg, keys, item), images))
    verdicts = [Verdict(f"{ref}:latest" + (f"@{digest}" if digest else ""), why)
                for (_, _, ref, digest), why in zip(images, answers, strict=True)]
    for verdict in verdicts:
        print(verdict.line())
    failed = [v for v in verdicts if v.failure]
    if failed:
        return TaskFailed(f"verification failed for {len(failed)} of {len(verdicts)} "
                          "images: " + "; ".join(f"{v.image}: {v.failure}" for v in failed))
    return None
