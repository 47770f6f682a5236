"""The keys stage: the package's PEM key pair and cosign key pair in data.config/."""

from __future__ import annotations

from axion_build.build.keys import key_paths, keys_action
from axion_build.build.signkeys import cosign_key_paths, cosign_keys_action, key_folder
from axion_build.config.packages import PACKAGES


def task_keys():
    """Provision each package's PEM and cosign key pairs in data.config/ (never overwrites)."""
    for cfg in PACKAGES.valid():
        folder = key_folder(cfg)
        paths = key_paths(folder, cfg.name)
        signing = cosign_key_paths(folder, cfg.name)
        yield {
            "name": f"{cfg.name}:cosign",
            "actions": [(cosign_keys_action, [cfg])],
            "targets": [str(p) for p in signing],
            "uptodate": [lambda paths=signing: all(p.exists() for p in paths)],
            "meta": {"axion": {"stage": "keys", "package": cfg.name}},
            "verbosity": 2,
        }
        yield {
            "name": cfg.name,
            "actions": [(keys_action, [folder, cfg.name])],
            "targets": [str(p) for p in paths],
            "uptodate": [lambda paths=paths: all(p.exists() for p in paths)],
            "verbosity": 2,
        }
