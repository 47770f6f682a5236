"""The process that writes a run's records and reports, started with the run.

Storing a record needs SQLAlchemy and a report needs Jinja2: a good part of a second
of imports that a no-op run would otherwise pay after its last check. The recording
reporter forks this writer when the run starts; it loads those libraries on the
other core while doit checks and runs the tasks, then waits for the run's records,
stores them, writes the reports asked for and sends back its messages. The run waits
for it, so the records are written when `doit` exits, as before.

Where the writer cannot help (no fork, or it died) the run does the same work itself.
The writer holds no lock of the run and ends when the run's process goes away.
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import traceback
from collections.abc import Callable

from axion_build.records import lock as runguard

PARENT_POLL_SECONDS = 1.0


def store_and_publish(payload: tuple, early: dict | None = None) -> list[str]:
    """Store the records of a run, then write (and mail) the reports asked for."""
    from axion_build.records.report import publish_reports
    from axion_build.records.store import store_records

    records, packages, flags = payload
    return store_records(records) + publish_reports(packages, records, flags, early)


class RecordWriter:
    """A forked helper that does `store_and_publish` for the run that started it."""

    def __init__(self, packages: frozenset[str] = frozenset()) -> None:
        """Fork the writer; it prepares the reports of `packages` while the run goes."""
        self.pid = 0
        self.to_child = self.from_child = -1
        try:
            down_r, down_w = os.pipe()
            up_r, up_w = os.pipe()
            pid = os.fork()
        except OSError:
            return
        if pid == 0:  # pragma: no cover - runs in the forked writer (its own process)
            os.close(down_w)
            os.close(up_r)
            serve(down_r, up_w, os.getppid(), packages)
        os.close(down_r)
        os.close(up_w)
        self.pid, self.to_child, self.from_child = pid, down_w, up_r

    def run(self, payload: tuple, fallback: Callable[[tuple], list[str]]) -> list[str]:
        """The writer's messages for `payload`; `fallback(payload)` here when it fails."""
        if not self.pid:
            return fallback(payload)
        try:
            with os.fdopen(self.to_child, "wb") as down:
                self.to_child = -1
                pickle.dump(payload, down)
            with os.fdopen(self.from_child, "rb") as up:
                self.from_child = -1
                answer = up.read()
            os.waitpid(self.pid, 0)
            self.pid = 0
            status, lines = pickle.loads(answer)
        except (OSError, EOFError, pickle.UnpicklingError, ValueError):
            self.close()
            return fallback(payload)
        if status != "ok":
            return [*lines, *fallback(payload)]
        return lines

    def close(self) -> None:
        """Let the writer go without work (it exits on its own)."""
        for fd in (self.to_child, self.from_child):
            if fd >= 0:
                os.close(fd)
        self.to_child = self.from_child = -1
        if self.pid:
            try:
                os.waitpid(self.pid, 0)
            except ChildProcessError:
                pass
            self.pid = 0


def serve(down: int, up: int, parent: int,
          packages: frozenset[str]) -> None:  # pragma: no cover - forked writer
    """The writer's life: prepare, wait for the payload, do the work, answer, exit."""
    code = 0
    # Ctrl-C reaches the whole process group: the run records its interruption, and its
    # writer must live to write it (it exits when the run goes away)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        for fd in runguard.held_fds():
            os.close(fd)  # the run's lock stays the run's
        from axion_build.records import report  # noqa: F401 - the point: load them now

        try:
            early = report.prepare_reports(packages)
        except Exception:  # the reports are then prepared at the end, as without a writer
            early = {}
        data = read_payload(down, parent)
        if data:
            try:
                answer = ("ok", store_and_publish(pickle.loads(data), early))
            except Exception as exc:
                answer = ("failed", [f"WARNING: record writer failed ({type(exc).__name__}: "
                                     f"{exc}); writing in the run's process"])
            write_all(up, pickle.dumps(answer))
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        os._exit(code)


def read_payload(down: int, parent: int) -> bytes:  # pragma: no cover - forked writer
    """Everything the run sends, or b'' when the run went away without sending."""
    chunks = []
    while True:
        ready, _, _ = select.select([down], [], [], PARENT_POLL_SECONDS)
        if not ready:
            if os.getppid() != parent:
                return b""
            continue
        chunk = os.read(down, 1 << 16)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def write_all(fd: int, data: bytes) -> None:  # pragma: no cover - forked writer
    """Write every byte of `data` to `fd`."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
