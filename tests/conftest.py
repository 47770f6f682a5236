"""Shared test setup: the repository root is importable, so tests need no __init__.py."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


import shutil  # noqa: E402
import subprocess  # noqa: E402

import pytest  # noqa: E402

from needs import check_needs, missing  # noqa: E402

BASE_IMAGES = ("axion-base/bookworm-runtime:latest", "axion-base/bookworm-builder:latest")


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A test marked `needs(available, what)` (tests/needs.py) stops when `what` is missing."""
    check_needs(item)


def engine_answers() -> bool:
    """Whether a Docker engine is running here."""
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0


@pytest.fixture(scope="session")
def base_images() -> tuple[str, ...]:
    """The local Debian base images, bootstrapped once (cached in the engine)."""
    if not engine_answers():
        missing("no Docker engine answers (run ./run tests, which starts one)")
    present = subprocess.run(["docker", "image", "inspect", *BASE_IMAGES], capture_output=True)
    if present.returncode == 0:
        return BASE_IMAGES
    done = subprocess.run([sys.executable, "-m", "doit", "base"], cwd=ROOT,
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"bootstrapping the base images failed:\n{done.stdout}\n{done.stderr}")
    return BASE_IMAGES
