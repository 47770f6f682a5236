"""Keep doit's file stamps fresh when only a file's mtime changed.

doit's MD5 checker treats a file whose mtime changed but whose content did not as
up to date, yet never stores the new mtime for a task that did not run; so after
a CI cache restore (every file with a new mtime) each later run would hash every
source again. This check stores the new stamp the first time.
"""

from __future__ import annotations

import os

from doit.dependency import UptodateCalculator, get_file_md5


class RefreshStamps(UptodateCalculator):
    """doit uptodate entry that never votes; it only refreshes stale-but-equal stamps."""

    def setup(self, dep_manager, tasks_dict) -> None:
        """Keep the dependency manager, to read and write stamps."""
        super().setup(dep_manager, tasks_dict)
        self.set_val = dep_manager._set

    def __call__(self, task) -> None:
        """Store (mtime, size, md5) of each file dep whose content is unchanged."""
        for dep in task.file_dep:
            state = self.get_val(task.name, dep)
            if not state:
                continue
            try:
                stat = os.stat(dep)
            except OSError:
                continue
            mtime, size, digest = state
            if stat.st_mtime != mtime and stat.st_size == size and get_file_md5(dep) == digest:
                self.set_val(task.name, dep, (stat.st_mtime, stat.st_size, digest))
        return None


REFRESH_STAMPS = RefreshStamps()


class NamedCheck:
    """A doit uptodate check that `doit info` and the records name by what it checks."""

    reason = ""

    def __repr__(self) -> str:
        return f"{type(self).__name__} ({self.reason})"


class OutsideCheck(NamedCheck):
    """An uptodate check that asks the engine or the registry; doit asks it once per
    run, from its runner's check (the records take their reasons from that same check)."""

    def __call__(self) -> bool:
        """The check's answer."""
        return self.check()

    def check(self) -> bool:
        """The actual question."""
        raise NotImplementedError
