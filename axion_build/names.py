"""Naming rules in one place: task name parts, local image tags, and where a package's
images live in its registry.

Local tags are the seed's, `axion-<pkg>:<service>`: every checkout on one engine that
builds a package of that name writes them, so nothing trusts a tag for what it holds.
An image is current only when its inputs label equals this checkout's inputs hash, a push
sends the image whose label it checked, and the tag an image is built under until the
secret guard passed is this checkout's alone (`checkout_key`).
"""

from __future__ import annotations

import hashlib

from axion_build.config.model import PackageConfig, native_platform

IMMUTABLE_PREFIX = "in-"  # registry tags that name one content of an image for good
RUNTIME_TARGET = "runtime"  # the dispatcher image every service image starts from
CADDY_TARGET = "caddy"


def arch_of(platform: str) -> str:
    """`linux/arm64` → `arm64`: the arch part of task names and tags."""
    return platform.split("/")[-1]


def image_tag(cfg: PackageConfig, target: str, platform: str) -> str:
    """Local tag: `axion-<pkg>:<service>`, `axion-<pkg>:latest` for the dispatcher, with
    `-<arch>` for a platform that is not this machine's."""
    name = "latest" if target == RUNTIME_TARGET else target
    if platform != native_platform():
        name = f"{name}-{arch_of(platform)}"
    return f"axion-{cfg.name}:{name}"


def extra_tags(cfg: PackageConfig, target: str, platform: str) -> list[str]:
    """The seed's name for the Caddy image, `axion-caddy:<pkg>`, beside ours."""
    if target == CADDY_TARGET and platform == native_platform():
        return [f"axion-caddy:{cfg.name}"]
    return []


def checkout_key(cfg: PackageConfig) -> str:
    """Short name of the checkout (its build folder) a package config belongs to."""
    return hashlib.sha256(str(cfg.build_root.resolve()).encode()).hexdigest()[:10]


def candidate_tag(cfg: PackageConfig, tag: str) -> str:
    """The tag an image is built under until the secret guard passed it: this checkout's
    own, so a build or a refusal elsewhere never touches it."""
    return f"{tag}--unguarded-{checkout_key(cfg)}"


def repository_path(cfg: PackageConfig, target: str) -> str:
    """`<namespace>/<pkg>-<target>` in the registry (no namespace: `<pkg>-<target>`)."""
    return repository_prefix(cfg) + target


def repository_prefix(cfg: PackageConfig) -> str:
    """What every repository of the package starts with: `<namespace>/<pkg>-`."""
    namespace = cfg.registry.namespace.strip("/")
    return f"{namespace}/{cfg.name}-" if namespace else f"{cfg.name}-"


def image_repository(cfg: PackageConfig, target: str) -> str:
    """`<registry.url>/<namespace>/<pkg>-<target>` (target `caddy` for Caddy)."""
    return "/".join(filter(None, [cfg.registry.url.strip("/"), repository_path(cfg, target)]))


def module_cache_repository(cfg: PackageConfig) -> str:
    """`<namespace>/<pkg>.modules`: the package's compiled modules as artifacts, tagged by
    content key (a service repository is `<pkg>-<service>`, so no service can take it)."""
    namespace = cfg.registry.namespace.strip("/")
    return f"{namespace}/{cfg.name}.modules" if namespace else f"{cfg.name}.modules"


def immutable_tag(inputs_hash: str) -> str:
    """The registry tag that names one content of an image for good: `in-<inputs hash>`."""
    return IMMUTABLE_PREFIX + inputs_hash[:16]
