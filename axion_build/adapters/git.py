"""git: the commit a build came from and whether its work tree had changes."""

from __future__ import annotations

import subprocess
from pathlib import Path


def source_state(folder: Path, own: tuple[Path, ...] = ()) -> tuple[str, bool | None]:
    """(HEAD commit, dirty) of the checkout holding `folder`; ('', None) outside git.

    Dirty: a tracked file changed anywhere, or a file git neither tracks nor ignores among
    `own` (the app tree and config a build is made of): an untracked config is a change.
    """
    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", "-C", str(folder), *args], capture_output=True,
                              text=True, timeout=30)

    try:
        head = git("rev-parse", "HEAD")
        if head.returncode != 0:
            return "", None
        changed = git("status", "--porcelain", "--untracked-files=no")
        top = Path(git("rev-parse", "--show-toplevel").stdout.strip()).resolve()
        inside = [str(p.resolve()) for p in own if p.resolve().is_relative_to(top)]
        # outside the checkout, a path is not git's to judge (and ls-files would fail)
        new = git("ls-files", "--others", "--exclude-standard", "-z", "--", *inside) \
            if inside else changed
    except (OSError, subprocess.TimeoutExpired):
        return "", None
    if changed.returncode != 0 or new.returncode != 0:
        return head.stdout.strip(), None
    return head.stdout.strip(), bool(changed.stdout.strip() or new.stdout.strip())
