"""The whole pipeline of a package, and the shared base images it stands on."""

from __future__ import annotations

from collections.abc import Iterator

from tasks.compile import target_platforms
from tasks.flags import Flags, current_flags
from tasks.multiarch import is_multiarch
from tasks.packages import PACKAGES
from tasks.report import report_task


def pipeline_steps(package: str, flags: Flags, multiarch: bool = False) -> list[str]:
    """Tasks `pipeline:<package>` runs, in stage order, honouring the flags (pure).

    A multi-platform run publishes from the image stage (manifest lists), so it has
    no separate push step.
    """
    images = f"image:{package}"
    if flags.service:
        images = f"image:{package}:{flags.service}"
        if multiarch and not flags.skip_push:
            images += ":manifest"
    steps = [f"validate:{package}", f"config:{package}"]
    if not flags.skip_compile:
        steps.append(f"compile:{package}")
    steps.append(images)
    if not flags.skip_push and not multiarch:
        steps.append(f"push:{package}:{flags.service}" if flags.service else f"push:{package}")
    if not flags.skip_deploy:
        steps.append(f"scaffold:{package}")
    return steps


def task_pipeline() -> Iterator[dict]:
    """Run every stage of a package: validate → … → scaffold, then the build report."""
    flags = current_flags()
    for cfg in PACKAGES.valid():
        # the pipeline's last step is the report of this run, after every stage
        multiarch = is_multiarch(target_platforms(cfg))
        yield {**report_task(cfg, after=pipeline_steps(cfg.name, flags, multiarch)),
               "doc": f"the whole pipeline of {cfg.name}, then its build report"}
    valid = {cfg.name for cfg in PACKAGES.valid()}
    for package in sorted(set(PACKAGES.names()) - valid):
        # an invalid config stops at validate, which reports every problem
        yield {"name": package, "actions": None, "task_dep": [f"validate:{package}"],
               "doc": f"the whole pipeline of {package}",
               "meta": {"axion": {"stage": "pipeline", "package": package}}}


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
