"""How a doit run ended, and what doit keeps of it: the runner's edges the records need.

doit's runner lets some faults escape it (an `uptodate` check that raises, a signal, an
error saving its state) and wipes the saved state of every task it reports failed, also
of tasks that never ran because a task they need failed. The recording reporter
installs the adjustments of this module when the run starts, so that:

- a check that raises fails its task (with the error), not the whole run;
- SIGTERM ends the run as Ctrl-C does, through doit's own clean-up, so it is recorded;
- a task that never ran keeps what doit remembers of it, so the next good run does
  only the work whose inputs changed;
- a failure to save doit's state is an error of the run, not a lost record.
"""

from __future__ import annotations

import os
import signal
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

from doit.dependency import DependencyStatus

from axion_build.records.diskfull import full_disk_line

# set by the recording reporter for its run: the report task (also in worker processes)
# then leaves the report to the end of the run
ACTIVE_ENV = "AXION_RECORDING_REPORTER"
# the run's id, set when a recording run starts; each package's build guid derives from it
RUN_ID_ENV = "AXION_RUN_ID"


def start_run_id() -> None:
    """A new id for the run that starts now (worker processes inherit it)."""
    import uuid

    os.environ[RUN_ID_ENV] = str(uuid.uuid4())


def run_guid(package: str) -> str:
    """The build guid this run records for `package` ('' outside a recording run), known
    to the tasks while they run: what they leave elsewhere can name their build."""
    import uuid

    run_id = os.environ.get(RUN_ID_ENV, "")
    try:
        return str(uuid.uuid5(uuid.UUID(run_id), package)) if run_id else ""
    except ValueError:
        return ""


class RunTerminated(KeyboardInterrupt):
    """The run got SIGTERM: it stops as on Ctrl-C (doit's `finally` clauses run)."""


def interruption(exc: BaseException | None) -> str:
    """'SIGINT' or 'SIGTERM' when `exc` stopped the run from outside, else ''."""
    if isinstance(exc, RunTerminated):
        return "SIGTERM"
    return "SIGINT" if isinstance(exc, KeyboardInterrupt) else ""


def describe(exc: BaseException) -> str:
    """One line naming an exception and, for one of no known kind, where it was raised."""
    if full := full_disk_line(exc):
        return full
    text = f"{type(exc).__name__}: {exc}".rstrip(": ")
    if type(exc).__module__.startswith("tasks."):
        return text  # the project's own errors say what to do
    frames = traceback.extract_tb(exc.__traceback__)
    if frames:
        last = frames[-1]
        text += f" (at {Path(last.filename).name}:{last.lineno} in {last.name})"
    return text


def terminate_as_interrupt(main_pid: int) -> Callable[[], None]:
    """Make SIGTERM raise RunTerminated in this process; the undo function."""
    import os

    previous = signal.getsignal(signal.SIGTERM)

    def on_term(signum, frame):
        if os.getpid() != main_pid:
            # a forked worker (doit -n) ends as it would have without us
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        raise RunTerminated("SIGTERM")

    signal.signal(signal.SIGTERM, on_term)
    return lambda: signal.signal(signal.SIGTERM, previous)


def hold_signals() -> Callable[[], None]:
    """Ignore SIGINT and SIGTERM while the run's record is written (a second Ctrl-C, or
    the first one still pending after a compiler it also stopped, would lose the record);
    the function that restores what was there."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT,
                                                                    signal.SIGTERM)}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore


def checks_fail_their_task(dep_manager) -> None:
    """An up-to-date check that raises fails its task with the error (doit would crash)."""
    check = dep_manager.get_status

    def get_status(task, tasks_dict, get_log=False):
        try:
            return check(task, tasks_dict, get_log=get_log)
        except Exception as exc:
            status = DependencyStatus(get_log)
            status.status, status.error_reason = "error", describe(exc)
            return status

    dep_manager.get_status = get_status


def keep_state_of_unrun(dep_manager, ran: Callable[[str], bool]) -> None:
    """doit forgets a task it reports failed; keep what it knows of tasks that never ran.

    A task passed over because a task it needs failed (doit's UnmetDependency) is
    reported failed too, and forgetting it would make the next run redo all its work.
    Only tasks whose check or actions ran this time (`ran(name)`) are forgotten.
    """
    remove = dep_manager.remove_success

    def remove_success(task):
        if ran(task.name):
            remove(task)

    dep_manager.remove_success = remove_success


def state_save_errors(dep_manager, failed: Callable[[str], None]) -> None:
    """A failure to save doit's state at the end (full disk) is told to `failed(message)`,
    an error of the run, instead of a crash before the run is recorded."""
    close = dep_manager.close

    def close_db():
        try:
            close()
        except Exception as exc:
            failed(f"doit's state not saved to {dep_manager.backend.name}: {describe(exc)}; "
                   "free space there (the next run redoes this run's work)")

    dep_manager.close = close_db


def hold_back_work(dep_manager, held: Callable[[object, object], bool]) -> None:
    """For `expect_noop`: a task whose check says it would run is passed over as up to date
    (nothing runs, doit's state is untouched) when `held(task, status)` says so."""
    check = dep_manager.get_status

    def get_status(task, tasks_dict, get_log=False):
        status = check(task, tasks_dict, get_log=get_log)
        if status.status == "run" and held(task, status):
            status.status = "up-to-date"
        return status

    dep_manager.get_status = get_status


def exit_now(stop: SystemExit) -> None:
    """End a run stopped by a signal (or crashed) with its exit code, now: doit closed its
    database before this, and the record is written. A second SIGINT still pending (the
    compiler it stopped first raised the interrupt) would otherwise surface on the way out
    and end the process by the signal instead of the code (seen as -2 in place of 130)."""
    if not isinstance(stop.code, int) or stop.code not in (130, 143):
        raise stop from None
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(stop.code)
