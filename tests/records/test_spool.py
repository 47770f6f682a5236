"""The spool keeps every run a database did not take: a malformed URL, a full disk.

Real doit runs of the demo dodo file (test_reporter); the full disk is a real tmpfs of
1 MiB mounted on the build folder and filled up (needs root, as the test machines run).
"""

from __future__ import annotations

import json
import subprocess
import uuid

import pytest
from demo import make_demo, record

from axion_build.records.spool import spool, spool_dirs, spooled, state_spool
from needs import missing


@pytest.mark.parametrize("url", ["notadb://x", "mysql+mysqldb://user@host:notaport/db",
                                 "garbage"])
def test_a_run_with_a_malformed_url_is_spooled_and_written_once_it_is_fixed(tmp_path, url):
    demo = make_demo(tmp_path / "ws", database_url=url)
    first = demo.doit(AXION_SPOOL_DIR=str(tmp_path / "state"))  # the pipeline and its report
    assert first.returncode == 0, first.stdout + first.stderr
    assert "database.url (not a usable URL" in first.stdout and "run spooled to" in first.stdout
    assert "Traceback" not in first.stdout + first.stderr
    [kept] = (demo.build / "spool").glob("*.json")
    assert json.loads(kept.read_text())["database"] == ""
    assert (demo.build / "demo" / "report" / "latest.html").exists()
    guid = json.loads(kept.read_text())["record"]["run"]["BuildGuid"]

    config = demo.root / "config" / "demo.yaml"
    config.write_text(config.read_text().replace(f'url: "{url}"', 'url: ""'))
    second = demo.doit("validate:demo", AXION_SPOOL_DIR=str(tmp_path / "state"))
    assert "wrote 1 spooled run(s)" in second.stdout, second.stdout
    assert demo.query("SELECT Status FROM log_build_run WHERE BuildGuid = :g", g=guid) == [
        ("success",)]
    assert list((demo.build / "spool").glob("*.json")) == []


@pytest.fixture
def full_build_folder(tmp_path):
    """The demo with its build folder on a 1 MiB tmpfs, after a first run, filled up."""
    demo = make_demo(tmp_path / "ws")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs",
                              str(demo.build)], capture_output=True, text=True)
    if mounted.returncode != 0:
        missing(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    filler = demo.build / "filler"
    try:
        first = demo.doit("validate:demo")  # doit's state and the records exist, as usual
        assert first.returncode == 0, first.stdout + first.stderr
        subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=64k"], capture_output=True)
        yield demo, filler
    finally:
        subprocess.run(["umount", "-l", str(demo.build)], check=True)


def test_a_full_build_folder_spools_outside_it_and_the_next_run_writes_it(full_build_folder,
                                                                          tmp_path, monkeypatch):
    demo, filler = full_build_folder
    state = tmp_path / "state"
    monkeypatch.setenv("AXION_SPOOL_DIR", str(state))
    config = demo.root / "config" / "demo.yaml"
    config.write_text(config.read_text() + "\n")  # validate runs again
    done = demo.doit("validate:demo", AXION_SPOOL_DIR=str(state))
    output = done.stdout + done.stderr
    assert "Traceback" not in output, output
    assert "run spooled to" in output and str(state) in output, output
    [kept] = state.glob("*/*.json")
    assert kept.parent == state_spool(demo.build)
    run = json.loads(kept.read_text())["record"]["run"]
    assert run["Status"] == ("success" if done.returncode == 0 else "failed")

    filler.unlink()
    again = demo.doit("validate:demo", AXION_SPOOL_DIR=str(state))
    assert again.returncode == 0, again.stdout + again.stderr
    assert "wrote 1 spooled run(s)" in again.stdout
    assert demo.query("SELECT Status FROM log_build_run WHERE BuildGuid = :g",
                      g=run["BuildGuid"]) == [(run["Status"],)]
    assert len(demo.query("SELECT BuildGuid FROM log_build_run")) == 3
    assert list(state.glob("*/*.json")) == []


def test_two_checkouts_spool_apart(tmp_path, monkeypatch):
    monkeypatch.setenv("AXION_SPOOL_DIR", str(tmp_path / "state"))
    one, two = tmp_path / "one" / "build", tmp_path / "two" / "build"
    assert state_spool(one) != state_spool(two)
    assert spool_dirs(one) == [one / "spool", state_spool(one)]
    blocked = tmp_path / "one" / "build"
    blocked.parent.mkdir()
    blocked.write_text("a file where the build folder should be")
    path = spool(spool_dirs(one), "sqlite:///x", record())
    assert path.parent == state_spool(one)
    assert list(spooled(spool_dirs(two), "sqlite:///x", {"demo"})) == []
    assert [r.run.Package for _, r in spooled(spool_dirs(one), "sqlite:///x", set())] == ["demo"]


def test_an_unaddressed_run_is_written_only_for_its_package(tmp_path):
    dirs = [tmp_path / "spool"]
    kept = record(package="shop")
    spool(dirs, "", kept)
    assert list(spooled(dirs, "sqlite:///a", {"demo"})) == []
    [(path, found)] = spooled(dirs, "sqlite:///a", {"shop"})
    assert found == kept and path.exists()
    assert str(uuid.UUID(found.run.BuildGuid)) == found.run.BuildGuid
