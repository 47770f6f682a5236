"""The digests deploy files pin: of each image this checkout built, the digest the
registry holds under the build's immutable tag (a manifest list's for a multi-platform
run), asked concurrently."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from axion_build.build.freshness import NamedCheck
from axion_build.config.model import PackageConfig
from axion_build.names import CADDY_TARGET, immutable_tag


class PinError(Exception):
    """The registry cannot be asked, or the engine cannot say what was built."""


@dataclass(frozen=True)
class Pins:
    """target → `sha256:…` of what the registry holds of this build; `missing`: targets
    this build has not published."""

    digests: dict[str, str] = field(default_factory=dict)
    missing: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        """Whether every deployed target has its digest."""
        return bool(self.digests) and not self.missing


def deployed_targets(cfg: PackageConfig) -> list[str]:
    """The images a deployment runs: each service of the package, and Caddy."""
    return [*(s.name for s in cfg.services), CADDY_TARGET]


def build_tag(cfg: PackageConfig, target: str, platforms: tuple[str, ...]) -> str:
    """The immutable tag this checkout's build of `target` is published under, '' when
    it has not built it (a missing build context counts as not built)."""
    from axion_build.publish.multiarch import is_multiarch, list_tag, platform_inputs
    from axion_build.publish.push import local_inputs

    try:
        if is_multiarch(platforms):
            inputs = platform_inputs(cfg, target, platforms)
            return list_tag(inputs) if all(inputs.values()) else ""
        inputs = local_inputs(cfg, target, platforms[0])
    except OSError:
        return ""
    return immutable_tag(inputs) if inputs else ""


def published(cfg: PackageConfig, platforms: tuple[str, ...]) -> Pins:
    """What the registry holds of this build for every deployed target; PinError when the
    engine or the registry cannot be asked."""
    from axion_build.adapters.docker import DockerError
    from axion_build.adapters.registry import RegistryError, manifest_digest
    from axion_build.publish.push import repository

    targets = deployed_targets(cfg)
    try:
        tags = {t: build_tag(cfg, t, platforms) for t in targets}
    except DockerError as exc:
        raise PinError(str(exc)) from exc

    def digest(target: str) -> str:
        tag = tags[target]
        return manifest_digest(cfg.registry, repository(cfg, target), tag) if tag else ""

    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            found = dict(zip(targets, pool.map(digest, targets), strict=True))
    except RegistryError as exc:
        raise PinError(f"registry {cfg.registry.url} ({cfg.path}: registry.url) cannot be "
                       f"read: {exc}") from exc
    return Pins({t: d for t, d in found.items() if d},
                tuple(t for t in targets if not found[t]))


def scaffold_pins(cfg: PackageConfig, substrate: str) -> tuple[tuple[tuple[str, str], ...], str]:
    """(target, digest) pairs a scaffold of `substrate` pins, and '' — or () and why its
    images are named by tag (nothing of this build published yet, or no registry)."""
    from axion_build.build.compile import target_platforms

    if substrate == "supervisor":  # runs the compiled app tree, no image
        return (), ""
    again = f"push, then `doit scaffold:{cfg.name}` pins their digests"
    try:
        pins = published(cfg, target_platforms(cfg))
    except PinError as exc:
        return (), f"images named by tag, not pinned: {exc}; {again}"
    if not pins.complete:
        return (), (f"images named by tag, not pinned: this build has published no image "
                    f"of {', '.join(pins.missing)} yet; {again}")
    return tuple(sorted(pins.digests.items())), ""


class PinsCurrent(NamedCheck):
    """doit uptodate check: the scaffold pins what the registry holds of this build now."""

    reason = "the deploy files pin other digests than the registry holds of this build"

    def __init__(self, cfg: PackageConfig, substrate: str):
        self.cfg, self.substrate = cfg, substrate

    def __call__(self, task: object, values: dict) -> bool:
        """True when the last scaffold pinned exactly the digests it would pin now."""
        return values.get("pins") == dict(scaffold_pins(self.cfg, self.substrate)[0])
