"""The packages of this checkout: their configs loaded once per doit run."""

from __future__ import annotations

import os
from pathlib import Path

from axion_build import paths
from axion_build.config.load import config_path, discover_packages, load_config
from axion_build.config.model import SCHEMA, PackageConfig, env_name
from axion_build.config.problems import ConfigError
from axion_build.paths import under_cwd


def config_dir() -> Path:
    """Where package configs live (`AXION_CONFIG_DIR` overrides, for tests and other trees)."""
    return paths.config_dir()


def config_file(package: str) -> Path:
    """The config file of `package`."""
    return under_cwd(config_path(package, config_dir()))


def env_snapshot() -> dict[str, str]:
    """The `AXION_{SECTION}_*` environment, which overrides config options."""
    prefixes = tuple(env_name((section,)) + "_" for section in SCHEMA)
    return {k: v for k, v in sorted(os.environ.items()) if k.startswith(prefixes)}


class PackageTable:
    """Lazily loaded configs by package name; an invalid config is kept as its error."""

    def __init__(self) -> None:
        self._loaded: dict[str, PackageConfig | ConfigError] = {}

    def names(self) -> list[str]:
        """Every package with a config file."""
        return discover_packages(config_dir())

    def get(self, package: str) -> PackageConfig | ConfigError:
        """The loaded config of `package`, or the error that stops it loading."""
        if package not in self._loaded:
            try:
                self._loaded[package] = load_config(config_file(package))
            except ConfigError as exc:
                self._loaded[package] = exc
        return self._loaded[package]

    def valid(self) -> list[PackageConfig]:
        """Configs that load; the validate task reports the others."""
        return [c for c in (self.get(n) for n in self.names()) if isinstance(c, PackageConfig)]

    def clear(self) -> None:
        """Forget loaded configs (the environment or files changed)."""
        self._loaded.clear()


PACKAGES = PackageTable()
