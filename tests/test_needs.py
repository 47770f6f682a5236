"""A test that needs something missing skips, and fails naming it under CI=true."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from needs import in_ci, missing

TESTS = Path(__file__).resolve().parent
CONFTEST = f"""
import sys
sys.path.insert(0, {str(TESTS)!r})
from needs import check_needs


def pytest_configure(config):
    config.addinivalue_line("markers", "needs(available, what): tests/needs.py")


def pytest_runtest_setup(item):
    check_needs(item)
"""
MODULE = """
from needs import importorfail, missing, needs


@needs(False, "the frobnicator (apt-get install frob)")
def test_marked():
    pass


def test_called():
    missing("a second engine")


def test_imported():
    importorfail("no_such_module_here", "pip install nothing")


@needs(True, "something that is here")
def test_present():
    pass
"""


@pytest.mark.parametrize(
    ("value", "ci"),
    [("true", True), ("TRUE", True), ("1", True), ("", False), ("false", False), ("0", False)],
)
def test_ci_is_read_from_the_environment(monkeypatch, value, ci):
    monkeypatch.setenv("CI", value)
    assert in_ci() is ci


@pytest.mark.parametrize(("value", "outcome"), [("true", pytest.fail.Exception),
                                                ("", pytest.skip.Exception)])
def test_missing_skips_or_fails(monkeypatch, value, outcome):
    monkeypatch.setenv("CI", value)
    with pytest.raises(outcome, match="the oras CLI"):
        missing("the oras CLI")


def run_module(tmp_path: Path, ci: str) -> subprocess.CompletedProcess:
    """pytest on MODULE, with CI set to `ci`."""
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_module.py").write_text(MODULE)
    env = {**os.environ, "CI": ci}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider",
                           "--rootdir", str(tmp_path), "-c", "/dev/null", str(tmp_path)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_a_real_run_skips_each_kind(tmp_path):
    done = run_module(tmp_path, "")
    assert done.returncode == 0, done.stdout
    assert "1 passed, 3 skipped" in done.stdout


def test_a_real_run_under_ci_fails_naming_what_is_missing(tmp_path):
    done = run_module(tmp_path, "true")
    assert done.returncode == 1, done.stdout
    # the mark fails the set-up (an error), a call fails the test
    assert "2 failed, 1 passed, 1 error" in done.stdout
    for what in ("the frobnicator (apt-get install frob)", "a second engine",
                 "no no_such_module_here module (pip install nothing)"):
        assert f"missing under CI=true: {what}" in done.stdout
