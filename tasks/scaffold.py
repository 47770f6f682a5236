"""The scaffold stage: the deploy files of each package for its substrate."""

from __future__ import annotations

from collections.abc import Iterator

from doit.tools import config_changed

from axion_build.config.flags import current_flags
from axion_build.config.model import PackageConfig
from axion_build.config.packages import PACKAGES, config_file
from axion_build.deploy.pins import PinsCurrent
from axion_build.deploy.scaffold import (
    deploy_dir,
    output_paths,
    scaffold_action,
    scaffold_fingerprint,
    template_inputs,
)


def writer_task(cfg: PackageConfig, substrate: str) -> dict:
    """The parts of a scaffold task that write the deploy files of `substrate`."""
    return {
        "actions": [(scaffold_action, [cfg, substrate])],
        "file_dep": [str(config_file(cfg.name)), *template_inputs(substrate)],
        "uptodate": [config_changed(scaffold_fingerprint(cfg, substrate)),
                     PinsCurrent(cfg, substrate)],
        "meta": {"axion": {"stage": "scaffold", "package": cfg.name, "substrate": substrate}},
        "doc": f"deployment files of {cfg.name} for {substrate}",
        "verbosity": 2,
    }


def task_scaffold() -> Iterator[dict]:
    """Deployment files of each package for its substrate (compose, k3s or supervisor)."""
    skip = current_flags().skip_deploy
    for cfg in PACKAGES.valid():
        substrate = cfg.deployment.substrate
        if skip:
            meta = {"axion": {"stage": "scaffold", "package": cfg.name, "substrate": substrate,
                              "skipped": "skip_deploy"}}
            yield {"name": cfg.name, "task_dep": [f"config:{cfg.name}"], "meta": meta,
                   "doc": f"deployment files of {cfg.name} for {substrate}",
                   "actions": [], "uptodate": [True]}
            continue
        folder = deploy_dir(cfg, substrate)
        yield {**writer_task(cfg, substrate), "name": cfg.name,
               "task_dep": [f"config:{cfg.name}"],
               "targets": [str(folder / p) for p in output_paths(substrate, cfg.name)],
               "clean": True}
    for package in sorted(set(PACKAGES.names()) - {cfg.name for cfg in PACKAGES.valid()}):
        # an invalid config stops at validate, which names every problem
        yield {"name": package, "actions": None, "task_dep": [f"validate:{package}"],
               "doc": f"deployment files of {package}"}
