"""The validate stage: every config, file and key problem of a package at once."""

from __future__ import annotations

from collections.abc import Iterator

from doit.tools import config_changed

from axion_build.config.packages import PACKAGES, config_file
from axion_build.config.validate import validate_action, validate_facts, validate_inputs


def task_validate() -> Iterator[dict]:
    """Check each package's config, files and keys; every problem at once."""
    for package in PACKAGES.names():
        inputs = validate_inputs(package)
        yield {
            "name": package,
            "actions": [(validate_action, [config_file(package)])],
            "file_dep": inputs,
            "uptodate": [config_changed(validate_facts(package, inputs))],
            "verbosity": 2,
        }
