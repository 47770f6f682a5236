"""The base stage: local Debian base images, bootstrapped once per machine."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from axion_build.build.bootstrap import (
    BUILDER_DOCKERFILE,
    base_images,
    build_base_image,
    is_current,
)
from axion_build.build.compile import target_platforms
from axion_build.config.model import ImageSpec
from axion_build.config.packages import PACKAGES


def task_base() -> Iterator[dict]:
    """Bootstrap the local Debian base images (no registry pulls), once per machine."""
    seen = set()
    for cfg in PACKAGES.valid():
        if not cfg.images.bootstrap:
            continue
        for task in base_image_tasks(cfg.images, target_platforms(cfg)):
            if task["name"] not in seen:
                seen.add(task["name"])
                yield task


def base_image_tasks(images_cfg: ImageSpec, platforms: Iterable[str]) -> Iterator[dict]:
    """doit sub-tasks making the runtime and builder base images of each platform."""
    if not images_cfg.bootstrap:
        return
    dockerfile = BUILDER_DOCKERFILE.read_text(encoding="utf-8")
    for platform in platforms:
        runtime, builder = base_images(images_cfg, platform, dockerfile)
        for image, stands_on in ((runtime, None), (builder, runtime)):
            yield {
                "name": image.name,
                "doc": f"bootstrap {image.tag} ({image.platform}) from {image.mirror}",
                "actions": [(build_base_image, [image, stands_on])],
                "uptodate": [(is_current, [image.tag, image.recipe])],
                "meta": {"axion": {"stage": "base", "package": "", "platform": platform}},
                "verbosity": 2,
            }
