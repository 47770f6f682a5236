"""Multi-platform images: each platform built on its own, pushed, then one manifest list.

With more than one target platform (or a foreign one) the image stage publishes
directly: every platform's image is pushed under `<tag>-<arch>`, and only when all
of them are in the registry is the manifest list `latest` + immutable tag made, so
a failure never leaves a partial list. The separate push stage is then skipped.
"""

from __future__ import annotations

import hashlib

from doit.exceptions import TaskFailed

from axion_build.adapters.registry import RegistryError, client_for, manifest_digest
from axion_build.build.freshness import OutsideCheck
from axion_build.build.images import engine_facts, facts_now
from axion_build.config.model import PackageConfig, native_platform
from axion_build.names import IMMUTABLE_PREFIX, arch_of, image_tag
from axion_build.publish.push import (
    latest_is,
    not_ours,
    own_build,
    push_ref,
    repository,
)


def is_multiarch(platforms: tuple[str, ...]) -> bool:
    """Whether this run publishes from the image stage (anything but the native one)."""
    return platforms != (native_platform(),)


def list_tag(inputs: dict[str, str]) -> str:
    """Immutable tag of a manifest list: a digest of every platform's inputs (pure)."""
    joined = "\n".join(f"{p}={h}" for p, h in sorted(inputs.items()))
    return IMMUTABLE_PREFIX + hashlib.sha256(joined.encode()).hexdigest()[:16]


def platform_inputs(cfg: PackageConfig, target: str, platforms: tuple[str, ...]
                    ) -> dict[str, str]:
    """Inputs label of each platform's local image when it is this checkout's build ('' where
    it is missing or not ours)."""
    inputs = {}
    for platform in platforms:
        image, label = own_build(cfg, target, platform, engine_facts(cfg, platform, "push"))
        inputs[platform] = label if image else ""
    return inputs


class ManifestCurrent(OutsideCheck):
    """doit uptodate check: the registry holds this exact manifest list as `latest`."""

    reason = "registry lacks this manifest list"

    def __init__(self, cfg: PackageConfig, target: str, platforms: tuple[str, ...]):
        self.cfg, self.target, self.platforms = cfg, target, platforms

    def check(self) -> bool:
        """True when the immutable list tag exists and `latest` points at it."""
        cfg = self.cfg
        inputs = platform_inputs(cfg, self.target, self.platforms)
        if not (all(inputs.values()) and latest_is(cfg, self.target, list_tag(inputs))):
            return False
        try:
            digest = manifest_digest(cfg.registry, repository(cfg, self.target), "latest")
        except RegistryError:
            return False
        # the list is signed last, after every platform image and its attestations
        if why := list_vouch_problem(cfg, self.target, digest, inputs):
            self.reason = f"registry holds {digest[:19]}, not this build vouched for: {why}"
            return False
        return True


def list_vouch_problem(cfg: PackageConfig, target: str, digest: str,
                       inputs: dict[str, str]) -> str:
    """Why the manifest list `digest` is not this build of each platform's `inputs`, signed
    and attested by a trusted key ('' when it is)."""
    from axion_build.build.signkeys import trusted_keys
    from axion_build.build.vouch import list_problem

    try:
        return list_problem(client_for(cfg.registry), repository(cfg, target), digest,
                            trusted_keys(cfg), inputs)
    except RegistryError as exc:
        return str(exc)


def publish_manifest(cfg: PackageConfig, target: str,
                     platforms: tuple[str, ...]) -> dict | TaskFailed:
    """doit action: push each platform's image, then make the manifest list."""
    from axion_build.adapters import docker, transfer
    from axion_build.publish.supply import utc_stamp

    started = utc_stamp()
    facts = {p: facts_now(cfg, p, [target]) for p in platforms}
    builds = {p: own_build(cfg, target, p, facts[p]) for p in platforms}
    inputs = {p: label for p, (image, label) in builds.items() if image}
    for platform, (image, label) in builds.items():
        if not image:
            return TaskFailed(f"{target} ({platform}): "
                              + not_ours(cfg, image_tag(cfg, target, platform), label))
    ref, tag = push_ref(cfg, target), list_tag(inputs)
    try:
        client_for(cfg.registry).catalog(limit=1)
    except RegistryError as exc:
        return TaskFailed(f"registry {cfg.registry.url} unreachable, nothing pushed: {exc}")
    sources, digests = [], {}
    try:
        transfer.login(cfg.registry)
        for platform in platforms:
            arch_tag = f"{tag}-{arch_of(platform)}"
            digests[platform] = transfer.push_tags(builds[platform][0], ref, [arch_tag])
            sources.append(f"{ref}:{arch_tag}")
        digest = transfer.create_manifest_list(ref, [tag, "latest"], sources,
                                             insecure=cfg.registry.insecure)
    except docker.DockerError as exc:
        return TaskFailed(f"publishing {ref} failed, no manifest list made: {exc}")
    print(f"pushed {ref}:{tag} and :latest for {', '.join(platforms)}")
    pushed = {"pushed": ref, "tag": tag, "digest": digest, "platforms": list(platforms)}
    images = {p: (builds[p][0], digests[p]) for p in platforms}
    return with_list_supply(cfg, target, images, pushed, started)


def with_list_supply(cfg: PackageConfig, target: str, images: dict[str, tuple[str, str]],
                     pushed: dict, started: str) -> dict | TaskFailed:
    """Each platform image's SBOM, provenance and signature, then the list's signature; the
    values of the publishing step with them, or why they failed."""
    from axion_build.adapters import docker
    from axion_build.adapters.cosign import CosignError
    from axion_build.publish.supply import publish_supply, sign_digest

    ref, digest, counts = pushed["pushed"], pushed["digest"], {}
    try:
        for platform, (image, platform_digest) in images.items():
            made = publish_supply(cfg, target, platform, image, ref, platform_digest, started)
            counts[platform] = made["sbom"]
        sign_digest(cfg, ref, digest)
    except (CosignError, docker.DockerError, OSError, ValueError) as exc:
        return TaskFailed(f"{ref}@{digest} was published but not signed: {exc}")
    print(f"signed {ref}@{digest} and each platform's image; SBOMs and provenance attached")
    return {**pushed, "signed": "yes", "sbom": counts}
