"""The push stage: tag and push each image unless the registry holds it."""

from __future__ import annotations

from collections.abc import Iterator

from axion_build.build.compile import target_platforms
from axion_build.build.images import image_targets
from axion_build.config.flags import current_flags
from axion_build.config.model import native_platform
from axion_build.config.packages import PACKAGES
from axion_build.publish.push import RegistryCurrent, push_ref, push_target

from .image import refusal, unknown_service


def task_push() -> Iterator[dict]:
    """Tag and push each package's images; skip what the registry already holds."""
    flags = current_flags()
    if flags.skip_push:
        return
    for cfg in PACKAGES.valid():
        platforms = target_platforms(cfg)
        if platforms != (native_platform(),):
            # multi-platform runs publish manifest lists from the image stage
            continue
        platform = platforms[0]
        targets = image_targets(cfg)
        if why := unknown_service(cfg, flags.service):
            yield refusal(f"{cfg.name}:{flags.service}", "push", cfg, why)
            targets = []
        elif flags.service:
            targets = [flags.service]
        names = []
        for target in targets:
            names.append(f"push:{cfg.name}:{target}")
            yield {
                "name": f"{cfg.name}:{target}",
                "actions": [(push_target, [cfg, target, platform])],
                "uptodate": [RegistryCurrent(cfg, target, platform)],
                "task_dep": [f"image:{cfg.name}:build", f"keys:{cfg.name}:cosign"],
                "meta": {"axion": {"stage": "push", "package": cfg.name, "platform": platform,
                                   "service": target, "ref": push_ref(cfg, target)}},
                "verbosity": 1,
            }
        yield {
            "name": cfg.name,
            "doc": f"push every image of {cfg.name} to {cfg.registry.url}",
            "actions": None,
            "task_dep": names,
            "meta": {"axion": {"stage": "push", "package": cfg.name}},
        }
