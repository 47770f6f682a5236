"""The record writer: a forked process does the end-of-run work, the run falls back to
doing it itself when the writer is gone, and a writer whose run vanished exits."""

from __future__ import annotations

import os
import signal
import time

import pytest

from axion_build.records import writer as recordwriter
from axion_build.records.writer import RecordWriter


def in_this_process(payload):
    return [f"fallback in {os.getpid()}: {payload[0]}"]


@pytest.fixture
def where_it_ran(monkeypatch):
    """store_and_publish replaced (before the fork) by one that says which process ran it."""
    monkeypatch.setattr(recordwriter, "store_and_publish",
                        lambda payload, early=None: [f"written in {os.getpid()}: {payload[0]}"])


def test_the_writer_does_the_work_in_its_own_process(where_it_ran):
    writer = RecordWriter()
    assert writer.pid > 0
    child = writer.pid
    lines = writer.run(("records", {"demo"}, None), in_this_process)
    assert lines == [f"written in {child}: records"]
    assert writer.pid == 0
    with pytest.raises(ChildProcessError):
        os.waitpid(child, os.WNOHANG)  # reaped: no zombie left behind


def test_a_dead_writer_means_the_run_writes_itself(where_it_ran):
    writer = RecordWriter()
    os.kill(writer.pid, signal.SIGKILL)
    time.sleep(0.2)
    lines = writer.run(("records", set(), None), in_this_process)
    assert lines == [f"fallback in {os.getpid()}: records"]


def test_a_writer_that_fails_hands_the_work_back(monkeypatch):
    def broken(payload, early=None):
        raise RuntimeError("database on fire")

    monkeypatch.setattr(recordwriter, "store_and_publish", broken)
    lines = RecordWriter().run(("records", set(), None), in_this_process)
    assert lines[0].startswith("WARNING: record writer failed (RuntimeError: database on fire)")
    assert lines[1] == f"fallback in {os.getpid()}: records"


def test_a_writer_without_work_exits_when_let_go():
    writer = RecordWriter()
    child = writer.pid
    started = time.monotonic()
    writer.close()
    assert time.monotonic() - started < 5
    with pytest.raises(ChildProcessError):
        os.waitpid(child, os.WNOHANG)
