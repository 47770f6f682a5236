"""Images the registry already holds: one whose immutable tag `in-<inputs hash>` is in the
package's repository, signed by a trusted key and with a provenance (signed by one) whose
inputs hash is this checkout's for that target and platform, was built from exactly
these inputs, so it is up to date here without building it, and its push has nothing
to send. Anything else under that tag (unsigned, foreign-signed, an older build
replayed) is said once and built here. A taken image is not pulled: a machine that needs
to run it pulls it then, by the digest that passed, and tags it only once the secret
guard passed on it.

The registry is asked once per run and platform, for every image of the package at once
(concurrently), and only when an image is not current in the engine.
"""

from __future__ import annotations

import functools
import sys

from doit.exceptions import TaskFailed

from axion_build.config.model import PackageConfig, native_platform
from axion_build.names import (
    extra_tags,
    image_repository,
    image_tag,
    immutable_tag,
    repository_path,
)


@functools.cache
def registry_held(cfg: PackageConfig, platform: str,
                  wanted: tuple[tuple[str, str], ...]) -> dict[str, tuple[str, str]]:
    """target → (inputs hash, digest) of each `(target, inputs)` whose immutable tag the
    registry holds as this build, vouched for by a trusted key (native-platform runs that
    take from the registry cache only; {} when it cannot be asked)."""
    from concurrent.futures import ThreadPoolExecutor

    from axion_build.adapters.registry import client_for
    from axion_build.config.flags import cache_sides
    from axion_build.build.signkeys import trusted_keys
    from axion_build.build.vouch import tag_problem

    if platform != native_platform() or not cfg.registry.url or not cache_sides(cfg)[0]:
        return {}
    wanted = tuple((target, inputs) for target, inputs in wanted if inputs)
    client, keys = client_for(cfg.registry), trusted_keys(cfg)

    def held(item: tuple[str, str]) -> tuple[str, str]:
        target, inputs = item
        return tag_problem(client, repository_path(cfg, target), immutable_tag(inputs), keys,
                           inputs)

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(held, wanted))
    found = {}
    for (target, inputs), (digest, why) in zip(wanted, answers, strict=True):
        if digest and not why:
            found[target] = (inputs, digest)
        elif digest:
            warn(f"{image_repository(cfg, target)}:{immutable_tag(inputs)} is not used "
                 f"({why}): this checkout uses its own build of it")
    return found


@functools.cache
def login_problem(cfg: PackageConfig) -> str:
    """Log in to the package's registry once per process; why it failed ('' when it did
    not), said once: the images build here, and the push will fail the same way."""
    from axion_build.adapters import docker, transfer

    try:
        transfer.login(cfg.registry)
    except docker.DockerError as exc:
        why = str(exc).strip().splitlines()[-1] if str(exc).strip() else "refused"
        warn(f"cannot log in to {cfg.registry.url} ({why}): images are built here without "
             "the registry's layers, and pushing will fail until registry.username and "
             "registry.password (AXION_REGISTRY_PASSWORD) are right")
        return why
    return ""


def warn(text: str) -> None:
    """One warning line of the image stage about the registry."""
    print(f"axion: WARNING: registry cache: {text}", file=sys.stderr, flush=True)


def held_ref(cfg: PackageConfig, target: str, platform: str, inputs: str,
             wanted: tuple[tuple[str, str], ...]) -> str:
    """`<registry>/<ns>/<pkg>-<target>@sha256:…` when the registry holds exactly these
    inputs as this build, else '' (`wanted`: every image's inputs, asked together once)."""
    held = registry_held(cfg, platform, wanted).get(target)
    if inputs and held and held[0] == inputs:
        return f"{image_repository(cfg, target)}@{held[1]}"
    return ""


def take_held(cfg: PackageConfig, target: str, platform: str, facts: dict, ref: str,
              inputs: str) -> dict | TaskFailed:
    """The registry holds this image for these inputs: nothing to build. It is pulled only
    where the engine holds an older build under the tag (this machine runs these images),
    so the local tag never keeps stale content."""
    from axion_build.adapters import docker, transfer
    from axion_build.build.guard import guard_image, guarded_values

    tag = image_tag(cfg, target, platform)
    values = {"image": tag, "inputs": inputs, "cache": f"from the registry cache, as {ref}",
              "remote": ref, "_remote": inputs}
    if not facts.get(tag):
        print(f"{tag}: the registry holds it ({ref}); not built, not pulled")
        return values
    transfer.login(cfg.registry)
    transfer.pull(ref, platform)
    try:
        if findings := guard_image(ref, guarded_values(cfg),
                                   cfg.build_root / "guard-clean-layers.json"):
            return TaskFailed("secret guard: the registry's image was not tagged here, it "
                              "must not ship:\n" + "\n".join(map(str, findings)))
        for name in (tag, *extra_tags(cfg, target, platform)):
            docker.tag_image(ref, name)
    finally:
        docker.remove_image(ref)
    print(f"{tag}: pulled {ref} (the registry holds it; the local tag held an older build)")
    return {**values, "size": docker.image_size(tag)}
