"""Bootstrapped base images shared through the registry: a machine that lacks one pulls
what another machine made from the same recipe, instead of bootstrapping it again.

Each base is pushed as `<registry>/<namespace>/axion.bases/<kind>:<suite>-<arch>-<recipe>`.
A pulled base keeps its image id (the id is the digest of its config, which the push
carries), so every inputs hash built on it is the same on every machine, and it counts
only when its recipe label is the recipe asked for. Any failure means a local bootstrap
(and a warning), never a failed build.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from axion_build.config.model import RegistrySpec


@dataclass(frozen=True)
class BaseShare:
    """Where bases are shared, and whether this run takes from and gives to it."""

    registry: RegistrySpec
    pull: bool
    push: bool


def share_of(cfg) -> BaseShare | None:
    """The package's registry as a base share (None when the cache is off both ways)."""
    from axion_build.build.modcache import cache_sides

    pull, push = cache_sides(cfg)
    if not (pull or push) or not cfg.registry.url:
        return None
    return BaseShare(cfg.registry, pull, push)


def shared_ref(registry: RegistrySpec, kind: str, suite: str, arch: str, recipe: str) -> str:
    """The registry reference of one bootstrapped base."""
    namespace = registry.namespace.strip("/")
    path = "/".join(filter(None, [registry.url.strip("/"), namespace, "axion.bases", kind]))
    return f"{path}:{suite}-{arch}-{recipe[:16]}"


def warn(text: str) -> None:
    """One warning line of the base stage."""
    print(f"axion: WARNING: registry cache: {text}", file=sys.stderr, flush=True)


def take_base(image, share: BaseShare | None, label: str) -> bool:
    """Pull `image` from the share and tag it; whether it is now here with its recipe."""
    from axion_build.adapters import docker, transfer

    if share is None or not share.pull:
        return False
    ref = shared_ref(share.registry, image.kind, image.suite, image.arch, image.recipe)
    try:
        transfer.login(share.registry)
        transfer.pull(ref, image.platform)
    except docker.DockerError as exc:
        if getattr(exc, "kind", "") != "unknown":
            warn(f"cannot pull {ref} ({exc}); bootstrapping here")
        return False
    try:
        if docker.image_labels(ref).get(label) != image.recipe:
            warn(f"{ref} is not made from recipe {image.recipe[:16]}; bootstrapping here")
            return False
        docker.tag_image(ref, image.tag)
    finally:
        docker.remove_image(ref)
    print(f"bootstrap: {image.tag} pulled from {ref}")
    return True


def registry_has(share: BaseShare, image) -> bool:
    """Whether the share holds `image`'s recipe (True when it cannot be asked: a base
    here is never remade because the registry is away)."""
    from axion_build.adapters.registry import RegistryError, manifest_digest

    ref = shared_ref(share.registry, image.kind, image.suite, image.arch, image.recipe)
    repository, tag = ref.split("/", 1)[1].rsplit(":", 1)
    try:
        return bool(manifest_digest(share.registry, repository, tag))
    except RegistryError:
        return True


class BaseShared:
    """doit uptodate check: a run that gives to the registry finds the base there."""

    reason = "the registry cache lacks this base"

    def __init__(self, image, share: BaseShare | None):
        self.image, self.share = image, share

    def __repr__(self) -> str:
        return f"BaseShared ({self.reason})"

    def __call__(self) -> bool:
        """True unless this run pushes bases and the registry lacks this one."""
        return self.share is None or not self.share.push or registry_has(self.share, self.image)


def give_base(image, share: BaseShare | None) -> None:
    """Push a base bootstrapped here, for the machines that lack it."""
    from axion_build.adapters import docker, transfer

    if share is None or not share.push or registry_has(share, image):
        return
    ref = shared_ref(share.registry, image.kind, image.suite, image.arch, image.recipe)
    try:
        transfer.login(share.registry)
        docker.tag_image(image.tag, ref)
        transfer.push_tags(ref, ref.rsplit(":", 1)[0], [ref.rsplit(":", 1)[1]])
    except docker.DockerError as exc:
        warn(f"cannot push {ref} ({exc}); other machines bootstrap it themselves")
    finally:
        docker.remove_image(ref)
