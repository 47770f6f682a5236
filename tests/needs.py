"""What a test needs installed: missing, it skips on a developer's machine and fails in CI
(`CI=true`), where a skip would hide an install step that provisioning lacks."""

from __future__ import annotations

import os
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
