"""Images the registry already holds: one whose immutable tag `in-<inputs hash>` is in the
package's repository was built from exactly these inputs on some machine, so it is up to
date here without building it, and its push has nothing to send. It is not pulled: a
machine that needs to run it pulls it then.

The registry is asked once per run and platform, for every image of the package at once
(concurrently), and only when an image is not current in the engine.
"""

from __future__ import annotations

import functools

from axion_build.config.model import PackageConfig, native_platform
from axion_build.names import extra_tags, image_repository, image_tag, immutable_tag, repository_path


@functools.cache
def registry_held(cfg: PackageConfig, platform: str,
                  wanted: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """target → inputs hash of each `(target, inputs)` whose immutable tag the registry
    holds (native-platform runs that take from the registry cache only; {} when it cannot
    be asked)."""
    from concurrent.futures import ThreadPoolExecutor

    from axion_build.adapters.registry import RegistryError, manifest_digest
    from axion_build.build.modcache import cache_sides

    if platform != native_platform() or not cfg.registry.url or not cache_sides(cfg)[0]:
        return {}
    wanted = tuple((target, inputs) for target, inputs in wanted if inputs)

    def held(item: tuple[str, str]) -> bool:
        target, inputs = item
        try:
            return bool(manifest_digest(cfg.registry, repository_path(cfg, target),
                                        immutable_tag(inputs)))
        except RegistryError:
            return False

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(held, wanted))
    return {target: inputs for (target, inputs), ok in zip(wanted, answers, strict=True) if ok}


def held_ref(cfg: PackageConfig, target: str, platform: str, inputs: str,
             wanted: tuple[tuple[str, str], ...]) -> str:
    """`<registry>/<ns>/<pkg>-<target>:in-<hash>` when the registry holds exactly these
    inputs, else '' (`wanted`: every image's inputs, asked together once)."""
    if inputs and registry_held(cfg, platform, wanted).get(target) == inputs:
        return f"{image_repository(cfg, target)}:{immutable_tag(inputs)}"
    return ""


def take_held(cfg: PackageConfig, target: str, platform: str, facts: dict, ref: str,
              inputs: str) -> dict:
    """The registry holds this image for these inputs: nothing to build. It is pulled only
    where the engine holds an older build under the tag (this machine runs these images),
    so the local tag never keeps stale content."""
    from axion_build.adapters import docker, transfer

    tag = image_tag(cfg, target, platform)
    values = {"image": tag, "inputs": inputs, "cache": f"from the registry cache, as {ref}",
              "remote": ref, "_remote": inputs}
    if not facts.get(tag):
        print(f"{tag}: the registry holds it ({ref}); not built, not pulled")
        return values
    transfer.login(cfg.registry)
    transfer.pull(ref, platform)
    for name in (tag, *extra_tags(cfg, target, platform)):
        docker.tag_image(ref, name)
    docker.remove_image(ref)
    print(f"{tag}: pulled {ref} (the registry holds it; the local tag held an older build)")
    return {**values, "size": docker.image_size(tag)}
