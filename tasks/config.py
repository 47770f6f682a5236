"""The config stage: the trimmed runtime config.yaml of each package."""

from __future__ import annotations

from collections.abc import Iterator

from axion_build.config.packages import PACKAGES, config_file
from axion_build.config.runtime import runtime_config_path, write_runtime_config


def task_config() -> Iterator[dict]:
    """Trim each package config to the runtime config.yaml."""
    for cfg in PACKAGES.valid():
        target = runtime_config_path(cfg.build_dir)
        yield {
            "name": cfg.name,
            "actions": [(write_runtime_config, [config_file(cfg.name), target])],
            "file_dep": [str(config_file(cfg.name))],
            "targets": [str(target)],
            "task_dep": [f"validate:{cfg.name}"],
            "clean": True,
        }
