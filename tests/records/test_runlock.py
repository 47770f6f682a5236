"""Two runs at once on one checkout, through real doit runs of a tiny dodo file.

The recording reporter takes the checkout's run lock (axion_build/records/lock.py) before doit
reads any task's state: a second run waits for the first and then sees what the first
saved, or with AXION_LOCK_WAIT=0 refuses and writes nothing; a run killed with
SIGKILL leaves no lock behind. The dodo file's tasks sleep and log their start and
end, so the order of the two runs' work is read from the log's timestamps.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from workspace import run_env

DODO = '''\
"""Two slow tasks that log when they start and end."""

import os
import time
from pathlib import Path

from axion_build.records.reporter import RecordingReporter

DOIT_CONFIG = {"reporter": RecordingReporter, "verbosity": 2, "backend": "sqlite3",
               "dep_file": "build/.doit.sqlite3", "default_tasks": ["slow"]}


def log(line):
    with open("log.txt", "a") as out:
        out.write(f"{line} {time.time():.6f} {os.getpid()}\\n")


def work(name):
    log(f"start {name}")
    time.sleep(float(os.environ.get("SLOW_SECONDS", "2")))
    Path(f"out-{name}.txt").write_text(Path(f"in-{name}.txt").read_text())
    log(f"end {name}")


def task_slow():
    for name in ("a", "b"):
        yield {"name": name, "actions": [(work, [name])], "file_dep": [f"in-{name}.txt"],
               "targets": [f"out-{name}.txt"],
               "meta": {"axion": {"stage": "slow", "package": ""}}}
'''


@dataclass
class Checkout:
    """A folder with the tiny dodo file; runs doit in it."""

    root: Path

    @property
    def lock(self) -> Path:
        return self.root / "build" / ".axion-run.lock"

    def env(self, **extra: str) -> dict[str, str]:
        return run_env(self.root / "config", **extra)

    def start(self, *args: str, **env: str) -> subprocess.Popen:
        """A doit run in the background."""
        return subprocess.Popen([sys.executable, "-m", "doit", *args], cwd=self.root,
                                env=self.env(**env), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def doit(self, *args: str, **env: str) -> subprocess.CompletedProcess:
        """A doit run, to its end."""
        return subprocess.run([sys.executable, "-m", "doit", *args], cwd=self.root,
                              env=self.env(**env), capture_output=True, text=True, timeout=120)

    def log(self) -> list[tuple[str, float, int]]:
        """(event, time, pid) of every task start and end so far."""
        path = self.root / "log.txt"
        lines = path.read_text().splitlines() if path.exists() else []
        return [(" ".join(f[:2]), float(f[2]), int(f[3])) for f in map(str.split, lines)]

    def when(self, event: str, pid: int | None = None) -> list[float]:
        """When `event` (e.g. 'start a') happened, in the process `pid` if given."""
        return [t for e, t, p in self.log() if e == event and pid in (None, p)]

    def doit_db(self) -> dict[str, str]:
        """Task name → saved state in doit's database, after an integrity check."""
        with sqlite3.connect(self.root / "build" / ".doit.sqlite3") as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            rows = dict(conn.execute("SELECT task_id, task_data FROM doit"))
        conn.close()
        return rows

    def recorded_runs(self) -> list[tuple[str, str]]:
        """(status, command) of every run in the build records, oldest first."""
        path = self.root / "build" / "records.sqlite3"
        if not path.exists():
            return []
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            rows = conn.execute("SELECT Status, Command FROM log_build_run "
                                "ORDER BY StartTime").fetchall()
        conn.close()
        return rows


@pytest.fixture
def checkout(tmp_path) -> Checkout:
    root = tmp_path / "checkout"
    (root / "build").mkdir(parents=True)
    (root / "config").mkdir()
    (root / "dodo.py").write_text(DODO)
    for name in ("a", "b"):
        (root / f"in-{name}.txt").write_text(name)
    return Checkout(root)


def wait_until(check, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def holding(checkout: Checkout, run: subprocess.Popen) -> bool:
    """True once `run` holds the lock (its pid is written in the lock file)."""
    return checkout.lock.exists() and f"pid {run.pid}," in checkout.lock.read_text()


def ran(stdout: str) -> list[str]:
    """The tasks doit ran (lines `.  name  [stage i/n]`)."""
    return [line[3:].split()[0] for line in stdout.splitlines() if line.startswith(".  ")]


def up_to_date(stdout: str) -> list[str]:
    """The tasks doit found up to date (lines `-- name`)."""
    return [line[3:].split()[0] for line in stdout.splitlines() if line.startswith("-- ")]


def test_second_run_waits_for_the_first_and_sees_its_saved_state(checkout):
    first = checkout.start("slow:a")
    wait_until(lambda: holding(checkout, first), "the first run to take the lock")
    launched = time.time()
    second = checkout.start("slow:a", "slow:b")
    out1, err1 = first.communicate(timeout=60)
    out2, err2 = second.communicate(timeout=60)
    assert (first.returncode, second.returncode) == (0, 0), err1 + err2

    waiting = [line for line in err2.splitlines() if "another run holds" in line]
    assert len(waiting) == 1, err2  # said once, not per task
    assert str(checkout.lock) in waiting[0] and f"pid {first.pid}," in waiting[0]
    assert "waiting" in waiting[0]
    # the second run was started while the first worked, and its task began only after
    # the first run's task had ended
    [end_a] = checkout.when("end a", first.pid)
    [start_b] = checkout.when("start b", second.pid)
    assert launched < end_a <= start_b
    # it read the state the first run saved: slow:a was not done twice
    assert ran(out1) == ["slow:a"]
    assert ran(out2) == ["slow:b"] and up_to_date(out2) == ["slow:a"]
    assert checkout.when("start a") == checkout.when("start a", first.pid)

    assert {"slow:a", "slow:b"} <= set(checkout.doit_db())
    third = checkout.doit()
    assert third.returncode == 0, third.stderr
    assert ran(third.stdout) == [] and up_to_date(third.stdout) == ["slow:a", "slow:b"]
    assert "another run holds" not in third.stderr
    assert [status for status, _ in checkout.recorded_runs()] == ["success"] * 3


def test_with_lock_wait_0_the_second_run_refuses_and_writes_nothing(checkout):
    first = checkout.start("slow:a")
    wait_until(lambda: holding(checkout, first), "the first run to take the lock")
    refused = checkout.doit("slow:b", AXION_LOCK_WAIT="0")
    out1, err1 = first.communicate(timeout=60)
    assert first.returncode == 0, err1

    assert refused.returncode == 3
    assert "another run holds" in refused.stderr and f"pid {first.pid}," in refused.stderr
    assert "not starting" in refused.stderr and "Traceback" not in refused.stderr
    assert refused.stdout == ""
    # nothing of the refused run: no task, no target, no doit state, no build record
    assert checkout.when("start b") == [] and not (checkout.root / "out-b.txt").exists()
    assert "slow:b" not in checkout.doit_db()
    assert [command for _, command in checkout.recorded_runs()] == ["doit slow:a"]


def test_a_run_killed_mid_task_leaves_no_lock_and_its_task_runs_again(checkout):
    killed = checkout.start("slow:a", SLOW_SECONDS="60")
    wait_until(lambda: checkout.when("start a", killed.pid), "the task to start")
    assert holding(checkout, killed)
    os.kill(killed.pid, signal.SIGKILL)
    killed.communicate(timeout=30)
    assert killed.returncode == -signal.SIGKILL

    started = time.monotonic()
    again = checkout.doit("slow:a", SLOW_SECONDS="0.1")
    assert again.returncode == 0, again.stderr
    assert "another run holds" not in again.stderr
    assert time.monotonic() - started < 30
    # the interrupted task was never saved as done: it ran again, to its end
    assert ran(again.stdout) == ["slow:a"]
    assert len(checkout.when("start a")) == 2 and len(checkout.when("end a")) == 1
    assert (checkout.root / "out-a.txt").read_text() == "a"
    assert "slow:a" in checkout.doit_db()
    assert [command for _, command in checkout.recorded_runs()] == ["doit slow:a"]
    after = checkout.doit("slow:a")
    assert after.returncode == 0 and up_to_date(after.stdout) == ["slow:a"]
