"""The whole pipeline of a package, and the shared base images it stands on."""

from __future__ import annotations

from collections.abc import Iterator

from axion_build.build.compile import target_platforms
from axion_build.config.flags import Flags, current_flags
from axion_build.config.model import PackageConfig
from axion_build.config.packages import PACKAGES
from axion_build.deploy.scaffold import deploy_dir, output_paths
from axion_build.publish.multiarch import is_multiarch

from .report import report_task
from .scaffold import writer_task


def pipeline_steps(package: str, flags: Flags, multiarch: bool = False,
                   deploy: bool = False) -> list[str]:
    """Tasks `pipeline:<package>` runs, in stage order, honouring the flags (pure).

    A multi-platform run publishes from the image stage (manifest lists), so it has
    no separate push step. `deploy` (deployment.target is not `none`) adds the deploy
    after the scaffold, for a run that pushes one platform's images.
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
        # after every step it needs, never beside them: see published_scaffold_task
        steps.append(f"pipeline:{package}:scaffold")
        if deploy and not flags.skip_push and not multiarch:
            steps.append(f"deploy:{package}")
    return steps


def published_scaffold_task(cfg: PackageConfig, after: list[str]) -> dict:
    """The pipeline's scaffold: written only when every step before it (build, push)
    succeeded, so deploy files never point at images that failed to publish.

    A task of its own because `scaffold:<pkg>` alone must not build or push; it declares
    no targets (they are `scaffold:<pkg>`'s) and checks they exist instead.
    """
    substrate = cfg.deployment.substrate
    folder = deploy_dir(cfg, substrate)
    outputs = [folder / p for p in output_paths(substrate, cfg.name)]
    task = writer_task(cfg, substrate)
    return {**task, "name": f"{cfg.name}:scaffold", "task_dep": list(after),
            "uptodate": [*task["uptodate"], lambda: all(p.is_file() for p in outputs)]}


def task_pipeline() -> Iterator[dict]:
    """Run every stage of a package: validate → … → scaffold, then the build report."""
    flags = current_flags()
    for cfg in PACKAGES.valid():
        # the pipeline's last step is the report of this run, after every stage
        multiarch = is_multiarch(target_platforms(cfg))
        deploy = cfg.deployment.target != "none"
        steps = pipeline_steps(cfg.name, flags, multiarch, deploy)
        if not flags.skip_deploy:
            scaffold_at = steps.index(f"pipeline:{cfg.name}:scaffold")
            yield published_scaffold_task(cfg, after=steps[:scaffold_at])
        yield {**report_task(cfg, after=steps),
               "doc": f"the whole pipeline of {cfg.name}, then its build report"}
    valid = {cfg.name for cfg in PACKAGES.valid()}
    for package in sorted(set(PACKAGES.names()) - valid):
        # an invalid config stops at validate, which reports every problem
        yield {"name": package, "actions": None, "task_dep": [f"validate:{package}"],
               "doc": f"the whole pipeline of {package}",
               "meta": {"axion": {"stage": "pipeline", "package": package}}}


