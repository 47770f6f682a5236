"""What a test needs installed: missing, it skips on a developer's machine and fails in CI
(`CI=true`), where a skip would hide an install step that provisioning lacks."""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import NoReturn

import pytest


def in_ci() -> bool:
    """Whether this run is CI's (`CI=true`, as CI services set it)."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def missing(what: str) -> NoReturn:
    """Stop the test because `what` is not installed or not enabled here: a skip, or under
    CI=true a failure naming it."""
    if in_ci():
        pytest.fail(f"missing under CI=true: {what}", pytrace=False)
    pytest.skip(what)


def needs(available: bool, what: str) -> pytest.MarkDecorator:
    """A mark for a test that needs `what` (`available`: whether it is here); checked when
    the test is set up (tests/conftest.py), as a skipif mark would be."""
    return pytest.mark.needs(available, what)


def importorfail(module: str, install: str) -> ModuleType:
    """`module` imported; missing, as `missing` (`install` says how to get it)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        missing(f"no {module} module ({install})")


def check_needs(item: pytest.Item) -> None:
    """For pytest_runtest_setup: a test marked `needs(available, what)` stops when `what` is
    missing."""
    for mark in item.iter_markers("needs"):
        available, what = mark.args
        if not available:
            missing(what)
