"""The base stage: the runtime and builder base images every image stands on, either
bootstrapped here from Debian once per machine, or pulled from a registry."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from axion_build.build.bases import pull_tasks
from axion_build.build.bootstrap import (
    BUILDER_DOCKERFILE,
    base_images,
    build_base_image,
    is_current,
)
from axion_build.build.context import base_platforms
from axion_build.build.sharedbases import BaseShare, BaseShared, share_of
from axion_build.config.flags import current_flags
from axion_build.config.model import ImageSpec
from axion_build.config.packages import PACKAGES


def task_base() -> Iterator[dict]:
    """Bootstrap the local Debian base images, or pull the bases a package names."""
    seen = set()
    refresh = current_flags().pull_bases
    for cfg in PACKAGES.valid():
        platforms = base_platforms(cfg)
        tasks = (base_image_tasks(cfg.images, platforms, share_of(cfg)) if cfg.images.bootstrap
                 else pull_tasks(cfg, platforms, refresh))
        for task in tasks:
            if task["name"] not in seen:
                seen.add(task["name"])
                yield task


def base_image_tasks(images_cfg: ImageSpec, platforms: Iterable[str],
                     share: BaseShare | None = None) -> Iterator[dict]:
    """doit sub-tasks making the runtime and builder base images of each platform (taken
    from the registry when another machine made them: `share`)."""
    if not images_cfg.bootstrap:
        return
    dockerfile = BUILDER_DOCKERFILE.read_text(encoding="utf-8")
    # a base given to the registry is signed: the package's cosign pair is made first
    keys = ([f"keys:{share.cfg.name}:cosign"]
            if share is not None and share.push and share.cfg is not None else [])
    for platform in platforms:
        runtime, builder = base_images(images_cfg, platform, dockerfile)
        for image, stands_on in ((runtime, None), (builder, runtime)):
            yield {
                "name": image.name,
                "doc": f"bootstrap {image.tag} ({image.platform}) from {image.mirror}",
                "actions": [(build_base_image, [image, stands_on, share])],
                "uptodate": [(is_current, [image.tag, image.recipe]),
                             BaseShared(image, share)],
                "task_dep": keys,
                "meta": {"axion": {"stage": "base", "package": "", "platform": platform}},
                "verbosity": 2,
            }
