"""The whole pipeline of a package, and the shared base images it stands on."""

from __future__ import annotations

from collections.abc import Iterator

from tasks.compile import target_platforms
from tasks.flags import Flags, current_flags
from tasks.packages import PACKAGES


def pipeline_steps(package: str, flags: Flags) -> list[str]:
    """Tasks `pipeline:<package>` runs, in stage order, honouring the flags (pure)."""
    images = f"image:{package}:{flags.service}" if flags.service else f"image:{package}"
    steps = [f"validate:{package}", f"config:{package}"]
    if not flags.skip_compile:
        steps.append(f"compile:{package}")
    steps.append(images)
    if not flags.skip_push:
        steps.append(f"push:{package}:{flags.service}" if flags.service else f"push:{package}")
    if not flags.skip_deploy:
        steps.append(f"scaffold:{package}")
    steps.append(f"report:{package}")
    return steps


def task_pipeline() -> Iterator[dict]:
    """Run every stage of a package: validate → config → compile → image → push → scaffold."""
    flags = current_flags()
    valid = {cfg.name for cfg in PACKAGES.valid()}
    for package in PACKAGES.names():
        # an invalid config stops at validate, which reports every problem
        steps = pipeline_steps(package, flags) if package in valid else [f"validate:{package}"]
        yield {
            "name": package,
            "doc": f"the whole pipeline of {package}",
            "actions": None,
            "task_dep": steps,
            "meta": {"axion": {"stage": "pipeline", "package": package}},
        }


def task_base() -> Iterator[dict]:
    """Bootstrap the local Debian base images (no registry pulls), once per machine."""
    from tasks.bootstrap import base_image_tasks

    seen = set()
    for cfg in PACKAGES.valid():
        if not cfg.images.bootstrap:
            continue
        for task in base_image_tasks(cfg.images, target_platforms(cfg)):
            if task["name"] not in seen:
                seen.add(task["name"])
                yield task
