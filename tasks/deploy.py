"""The deploy stage: run what scaffold wrote, with the images this build pushed, and gate it."""

from __future__ import annotations

from collections.abc import Iterator

from doit.exceptions import TaskFailed

from axion_build.config.flags import Flags, current_flags
from axion_build.config.model import PackageConfig
from axion_build.config.packages import PACKAGES
from axion_build.deploy.rollout import deploy_action


def deploy_needs(package: str, flags: Flags, substrate: str = "compose") -> list[str]:
    """The tasks a deploy waits for: the pushes it runs, then the pipeline's scaffold,
    written once everything before it succeeded (pure). With skip_push it deploys what
    the registry already holds of this build, after the scaffold alone; supervisor runs
    the compiled app tree, k3s renders the chart only."""
    if substrate == "k3s":
        return [f"scaffold:{package}"]
    if flags.skip_push:
        tree = [f"image:{package}:context"] if substrate == "supervisor" else []
        return [*tree, f"scaffold:{package}"]
    push = f"push:{package}:{flags.service}" if flags.service else f"push:{package}"
    return [push, f"pipeline:{package}:scaffold"]


def not_deployed(cfg: PackageConfig) -> TaskFailed:
    """doit action of a package whose config deploys nowhere."""
    return TaskFailed(f"deploy:{cfg.name}: {cfg.path}: deployment.target is "
                      f"{cfg.deployment.target!r}: set it to 'local' (or "
                      "AXION_DEPLOYMENT_TARGET=local) to deploy on this machine, or to "
                      "'context:<name>' for the Docker host of that docker context")


def task_deploy() -> Iterator[dict]:
    """Deploy each package (deployment.target: local or context:<name>), gate, roll back."""
    flags = current_flags()
    for cfg in PACKAGES.valid():
        meta = {"axion": {"stage": "deploy", "package": cfg.name,
                          "substrate": cfg.deployment.substrate,
                          "target": cfg.deployment.target}}
        doc = f"deploy {cfg.name} ({cfg.deployment.substrate}) and gate it"
        if flags.skip_deploy:
            meta["axion"]["skipped"] = "skip_deploy"
            yield {"name": cfg.name, "actions": [], "uptodate": [True], "meta": meta,
                   "doc": doc}
            continue
        local = cfg.deployment.target != "none"  # here, or through a docker context
        yield {"name": cfg.name, "doc": doc, "meta": meta, "verbosity": 2,
               "actions": [(deploy_action if local else not_deployed, [cfg])],
               "task_dep": (deploy_needs(cfg.name, flags, cfg.deployment.substrate)
                            if local else []),
               # every deploy runs its gate again: what runs may have changed meanwhile
               "uptodate": [False]}
    for package in sorted(set(PACKAGES.names()) - {cfg.name for cfg in PACKAGES.valid()}):
        yield {"name": package, "actions": None, "task_dep": [f"validate:{package}"],
               "doc": f"deploy {package}"}
