"""The keys stage: the package's PEM key pair in data.config/."""

from __future__ import annotations

from axion_build.build.keys import key_paths, keys_action
from axion_build.config.packages import PACKAGES


def task_keys():
    """Provision each package's PEM key pair in data.config/ (never overwrites)."""
    for cfg in PACKAGES.valid():
        folder = cfg.app_root / "data.config"
        paths = key_paths(folder, cfg.name)
        yield {
            "name": cfg.name,
            "actions": [(keys_action, [folder, cfg.name])],
            "targets": [str(p) for p in paths],
            "uptodate": [lambda paths=paths: all(p.exists() for p in paths)],
            "verbosity": 2,
        }
