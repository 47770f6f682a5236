"""The doit reporter that records every run: console output as usual, records at the end.

Events are buffered in memory (doit calls every reporter hook in the main process,
also with `doit -n N`) and written once at `complete_run` through records.py. Why
each task ran comes from why.py, the per-package records from runs.py.

dodo.py imports this module, so what a run needs only at its end (SQLAlchemy through
records.py, Jinja2 through the report) is imported there, not here.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from collections import Counter
from collections.abc import Mapping

from doit import Globals
from doit.exceptions import BaseFail, InvalidTask, TaskFailed, UnmetDependency
from doit.reporter import ConsoleReporter

from axion_build.adapters.docker import engine_problem
from axion_build.config.flags import current_flags
from axion_build.records.diskfull import task_full_disk
from axion_build.records.runs import (
    RunContext,
    StepEvent,
    assemble_records,
    command_line,
    package_of,
    reachable,
    recorded,
    stage_of,
    utc_now,
)
from axion_build.records.runstate import (
    ACTIVE_ENV,
    RUN_ID_ENV,
    checks_fail_their_task,
    describe,
    exit_now,
    hold_back_work,
    hold_signals,
    interruption,
    keep_state_of_unrun,
    start_run_id,
    state_save_errors,
    terminate_as_interrupt,
)
from axion_build.records.runwarnings import run_warnings
from axion_build.records.why import watch_checks
from axion_build.records.writer import RecordWriter, store_and_publish

# exit codes of a run stopped from outside, as a shell reports them (128 + signal)
SIGNAL_EXIT = {"SIGINT": 130, "SIGTERM": 143}
ENGINE_STAGES = {"base", "image", "push", "deploy"}  # the stages that need the Docker engine
CRASH_EXIT = 2  # doit's code for an error while executing a task
NOOP_EXIT = 1  # expect_noop and work to do: as a failed task


class RecordingReporter(ConsoleReporter):
    """Console output, plus every run in the build records and the requested reports."""

    desc = "console output; records every run in the build records database"

    def __init__(self, outstream, options):
        super().__init__(outstream, options)
        self.started, self.clock = utc_now(), time.monotonic()
        self.tasks: Mapping = {}
        self.selected: set[str] = set()
        self.events: dict[str, StepEvent] = {}
        self.errors: list[str] = []
        self.writer: RecordWriter | None = None
        self.touched: set[str] = set()
        self.undo_signal = None
        self.state_lost = False
        # tells the report task (also in worker processes) the report comes at the end
        os.environ[ACTIVE_ENV] = str(os.getpid())
        start_run_id()

    def initialize(self, tasks, selected_tasks):
        """Keep the tasks of the run and which of them the selection reaches."""
        from axion_build.records.lock import hold_run_lock

        # before any task's state is read: a second run waits for the first here
        state = Globals.dep_manager
        hold_run_lock(state.backend.name)
        checks_fail_their_task(state)  # first: the watcher below sees a raising check's error
        watch_checks(state, self.checked)
        self.held: dict[str, str] = {}  # expect_noop: task → why it would have run
        if current_flags().expect_noop:
            hold_back_work(state, self.hold)
        keep_state_of_unrun(state, self.touched.__contains__)
        state_save_errors(state, self.state_not_saved)
        self.undo_signal = terminate_as_interrupt(os.getpid())
        super().initialize(tasks, selected_tasks)
        self.tasks = tasks
        self.selected = reachable(tasks, list(selected_tasks))
        # progress: how many of each stage's tasks this run has reached so far
        self.stage_total = Counter(stage_of(tasks[n]) for n in self.selected if tasks[n].actions)
        self.stage_seen: Counter = Counter()
        # loads the records' libraries and prepares the reports on the other core while
        # the tasks are checked and run
        self.writer = RecordWriter(frozenset(self.reports_requested()))
        if self.stage_total.keys() & ENGINE_STAGES and (problem := engine_problem()):
            # before any task is scheduled: nothing runs, nothing of doit's state is lost
            raise InvalidTask(problem)

    def progress(self, task) -> str:
        """` [compile 3/16]`: the task's stage and how far this run is through it."""
        stage = stage_of(task)
        self.stage_seen[stage] += 1
        total = self.stage_total.get(stage, 0)
        return f"  [{stage} {self.stage_seen[stage]}/{total}]" if total > 1 else ""

    def event(self, task) -> StepEvent | None:
        """The buffered event of `task` (made on first sight), None if it is not recorded."""
        if not recorded(task):
            return None
        if task.name not in self.events:
            self.events[task.name] = StepEvent(seq=len(self.events), name=task.name)
        return self.events[task.name]

    def checked(self, task, verdict: str, reason: str) -> None:
        """The runner checked whether `task` is up to date: keep its verdict and why."""
        self.touched.add(task.name)
        if (step := self.event(task)) is not None:
            step.predicted, step.reason = verdict, reason

    def hold(self, task, status) -> bool:
        """expect_noop: keep back a task with work to do, not one that runs every time by
        design (no dependencies, or `uptodate: [False]` as the report's)."""
        always = any(utd is False for utd, _, _ in task.uptodate)
        if not task.actions or always or status.reasons.get("has_no_dependencies"):
            return False
        step = self.events.get(task.name)
        self.held[task.name] = (step.reason if step else "") or "it has work to do"
        return True

    def execute_task(self, task):
        """The task starts running: doit's line, with the stage's progress."""
        self.touched.add(task.name)
        if task.actions and task.name[0] != "_":
            self.write(f".  {task.title()}{self.progress(task)}\n")
        if (step := self.event(task)) is not None:
            step.start()
            if step.predicted == "up-to-date":
                step.reason = "forced (--always-execute)"

    def add_success(self, task):
        """The task ran and succeeded."""
        super().add_success(task)
        if (step := self.event(task)) is not None:
            step.finish("run")

    def add_failure(self, task, fail: BaseFail):
        """The task failed, or never ran because a task it needs failed."""
        if line := task_full_disk(task, "".join(fail.traceback)):
            fail = TaskFailed(line)  # one line, not the traceback of a full disk
        super().add_failure(task, fail)
        if (step := self.event(task)) is None:
            return
        if isinstance(fail, UnmetDependency):
            step.reason = f"not run: {', '.join(fail.message.split())} did not succeed"
            step.finish("skipped")
        else:
            step.finish("failed", fail.get_msg().strip())

    def skip_uptodate(self, task):
        """The task was up to date (or, with expect_noop, held back: then it failed)."""
        if task.name in self.held:
            self.write(f"!  {task.title()}: has work to do: {self.held[task.name]}\n")
            if (step := self.event(task)) is not None:
                step.finish("failed", f"expected no work (expect_noop), but it would run: "
                                      f"{self.held[task.name]}")
            return
        super().skip_uptodate(task)
        if task.actions:
            self.progress(task)
        if (step := self.event(task)) is not None:
            step.reason = ""
            step.finish("up-to-date")

    def skip_ignore(self, task):
        """The task is ignored (`doit ignore`)."""
        super().skip_ignore(task)
        if (step := self.event(task)) is not None:
            step.reason = "ignored (doit ignore)"
            step.finish("skipped")

    def state_not_saved(self, msg: str) -> None:
        """doit could not save what this run did: an error of the run, and its exit."""
        self.write(f"axion: ERROR: {msg}\n")
        self.errors.append(msg)
        self.state_lost = True

    def runtime_error(self, msg):
        """doit itself failed: the run is recorded as failed."""
        super().runtime_error(msg)
        self.errors.append(msg)

    def complete_run(self):
        """Print failures as doit does, then write the records and the requested reports.

        doit calls this from a `finally` clause also when the run was interrupted or
        crashed; that exception is then the one being handled here.
        """
        stopped = sys.exc_info()[1]
        release = hold_signals()
        super().complete_run()
        try:
            self.finish_run(stopped)
        except Exception as exc:  # recording never changes the build's outcome
            self.write(f"axion: WARNING: build records not written: "
                       f"{type(exc).__name__}: {exc}\n")
        finally:
            if self.writer:
                self.writer.close()
            release()
            if self.undo_signal:
                self.undo_signal()
            if os.environ.get(ACTIVE_ENV) == str(os.getpid()):
                del os.environ[ACTIVE_ENV]
        if stopped is not None:
            exit_now(self.exit_for(stopped))
        if self.state_lost:
            raise SystemExit(CRASH_EXIT)
        if self.held:
            self.write(f"axion: ERROR: expected no work (expect_noop), but "
                       f"{len(self.held)} task(s) had work to do:\n")
            for name, why in self.held.items():
                self.write(f"axion:   {name}: {why}\n")
            raise SystemExit(NOOP_EXIT)

    def exit_for(self, stopped: BaseException) -> SystemExit:
        """One line instead of a traceback for a run stopped by `stopped`, and its exit."""
        if isinstance(stopped, SystemExit):
            return stopped
        if signal_name := interruption(stopped):
            self.write(f"axion: run interrupted by {signal_name}; recorded as interrupted\n")
            return SystemExit(SIGNAL_EXIT[signal_name])
        self.write(f"axion: ERROR: the run stopped: {describe(stopped)}; recorded as failed, "
                   "with the traceback (axion explain <package>)\n")
        return SystemExit(CRASH_EXIT)

    def finish_run(self, stopped: BaseException | None = None) -> None:
        """Record one run per package, then write (and mail) the reports asked for."""
        signal_name = interruption(stopped) if stopped is not None else ""
        if stopped is not None:
            self.mark_unfinished(f"interrupted by {signal_name}" if signal_name
                                 else f"the run stopped: {describe(stopped)}")
            if not signal_name:
                self.errors.append("".join(traceback.format_exception(stopped)).strip())
        self.mark_not_reached()
        for line in run_warnings(self.tasks[name].values for name in self.events):
            self.write(f"axion: WARNING: {line}\n")  # also when the task's output was captured
        context = RunContext(started=self.started, ended=utc_now(),
                             elapsed=round(time.monotonic() - self.clock, 3),
                             flags=current_flags(), errors=tuple(self.errors),
                             command=command_line(sys.argv), interrupted=signal_name)
        events = sorted(self.events.values(), key=lambda e: e.seq)
        records = assemble_records(events, self.tasks, context)
        os.environ.pop(RUN_ID_ENV, None)  # the next run, also in this process, is another
        payload = (records, self.reports_requested(), context.flags)
        lines = (self.writer.run(payload, store_and_publish) if self.writer
                 else store_and_publish(payload))
        for line in lines:
            self.write(f"axion: {line}\n")

    def mark_unfinished(self, why: str) -> None:
        """Tasks that started and never ended: the run stopped while they ran."""
        for step in self.events.values():
            if step.started is not None and not step.status:
                step.finish("failed", f"{why} while it ran")

    def mark_not_reached(self) -> None:
        """Tasks the selection needed that never came up: the run stopped first."""
        for name in sorted(self.selected):
            task = self.tasks[name]
            if recorded(task) and name not in self.events:
                step = self.event(task)
                step.reason = "not reached: the run stopped before it"
                step.finish("skipped")

    def reports_requested(self) -> set[str]:
        """Packages whose report task is part of this run, whether it ran or not."""
        return {package_of(self.tasks[name]) for name in self.selected
                if stage_of(self.tasks[name]) == "report"} - {""}
