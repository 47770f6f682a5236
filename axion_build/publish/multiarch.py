"""Multi-platform images: each platform built on its own, pushed, then one manifest list.

With more than one target platform (or a foreign one) the image stage publishes
directly: every platform's image is pushed under `<tag>-<arch>`, and only when all
of them are in the registry is the manifest list `latest` + immutable tag made, so
a failure never leaves a partial list. The separate push stage is then skipped.
"""

from __future__ import annotations

import hashlib

from doit.exceptions import TaskFailed

from axion_build.adapters.registry import RegistryError, client_for
from axion_build.build.apptree import arch_of
from axion_build.build.freshness import OutsideCheck
from axion_build.build.images import LABEL_INPUTS, engine_facts, image_tag
from axion_build.config.model import PackageConfig, native_platform
from axion_build.config.packages import PACKAGES
from axion_build.publish.push import IMMUTABLE_PREFIX, latest_is, push_ref


def is_multiarch(platforms: tuple[str, ...]) -> bool:
    """Whether this run publishes from the image stage (anything but the native one)."""
    return platforms != (native_platform(),)


def list_tag(inputs: dict[str, str]) -> str:
    """Immutable tag of a manifest list: a digest of every platform's inputs (pure)."""
    joined = "\n".join(f"{p}={h}" for p, h in sorted(inputs.items()))
    return IMMUTABLE_PREFIX + hashlib.sha256(joined.encode()).hexdigest()[:16]


def platform_inputs(cfg: PackageConfig, target: str, platforms: tuple[str, ...],
                    facts_for=engine_facts) -> dict[str, str]:
    """Inputs label of each platform's local image ('' where it is missing)."""
    inputs = {}
    for platform in platforms:
        facts = facts_for(cfg.name, platform, "push").get(image_tag(cfg, target, platform))
        facts = facts or {}
        inputs[platform] = facts.get("labels", {}).get(LABEL_INPUTS, "")
    return inputs


class ManifestCurrent(OutsideCheck):
    """doit uptodate check: the registry holds this exact manifest list as `latest`."""

    reason = "registry lacks this manifest list"

    def __init__(self, package: str, target: str, platforms: tuple[str, ...]):
        self.package, self.target, self.platforms = package, target, platforms

    def check(self) -> bool:
        """True when the immutable list tag exists and `latest` points at it."""
        cfg = PACKAGES.get(self.package)
        inputs = platform_inputs(cfg, self.target, self.platforms)
        return all(inputs.values()) and latest_is(cfg, self.target, list_tag(inputs))


def publish_manifest(package: str, target: str, platforms: tuple[str, ...]) -> dict | TaskFailed:
    """doit action: push each platform's image, then make the manifest list."""
    from axion_build.adapters import docker

    cfg = PACKAGES.get(package)
    inputs = platform_inputs(cfg, target, platforms, facts_for=fresh_facts)
    missing = [p for p, h in inputs.items() if not h]
    if missing:
        return TaskFailed(f"{target}: no built image for {', '.join(missing)}; "
                          f"build them first (doit image:{package})")
    ref, tag = push_ref(cfg, target), list_tag(inputs)
    try:
        client_for(cfg.registry).catalog(limit=1)
    except RegistryError as exc:
        return TaskFailed(f"registry {cfg.registry.url} unreachable, nothing pushed: {exc}")
    sources = []
    try:
        docker.login(cfg.registry)
        for platform in platforms:
            arch_tag = f"{tag}-{arch_of(platform)}"
            docker.push_tags(image_tag(cfg, target, platform), ref, [arch_tag])
            sources.append(f"{ref}:{arch_tag}")
        digest = docker.create_manifest_list(ref, [tag, "latest"], sources,
                                             insecure=cfg.registry.insecure)
    except docker.DockerError as exc:
        return TaskFailed(f"publishing {ref} failed, no manifest list made: {exc}")
    print(f"pushed {ref}:{tag} and :latest for {', '.join(platforms)}")
    return {"pushed": ref, "tag": tag, "digest": digest, "platforms": list(platforms)}


def fresh_facts(package: str, platform: str, stage: str = "push") -> dict:
    """Engine facts asked now (the images were just built in this run)."""
    from axion_build.adapters import docker
    from axion_build.build.images import image_targets

    cfg = PACKAGES.get(package)
    return docker.image_facts([image_tag(cfg, t, platform) for t in image_targets(cfg)])


