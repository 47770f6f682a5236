"""git: the commit a build came from and whether its work tree had changes."""

from __future__ import annotations

import subprocess
from pathlib import Path


def source_state(folder: Path) -> tuple[str, bool | None]:
    """(HEAD commit, dirty) of the checkout holding `folder`; ('', None) outside git."""
    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", "-C", str(folder), *args], capture_output=True,
                              text=True, timeout=30)

    try:
        head = git("rev-parse", "HEAD")
        if head.returncode != 0:
            return "", None
        status = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.TimeoutExpired):
        return "", None
    return head.stdout.strip(), bool(status.stdout.strip())
