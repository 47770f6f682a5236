"""Build records on SQLite and on a real MariaDB: the seed's tables, its queries, the spool."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from demo import last_guid, make_demo, record, steps_of
from registryd import free_port
from sqlalchemy import inspect, text

from axion_build.config.model import DatabaseSpec
from axion_build.records.store import (
    database_key,
    database_url,
    last_compiling_run,
    latest_runs,
    load_record,
    open_engine,
    store,
    write_record,
)
from needs import missing

MARIADB_URL = "mysql+mysqldb://axion:axion@127.0.0.1:3306/axion_test"
SEED_RUNS = "SELECT BuildGuid, Status, ElapsedSeconds, Platform FROM log_build_run " \
            "ORDER BY StartTime DESC LIMIT 5"
SEED_FAILURES = "SELECT FactorySet, Module, CompileError FROM log_build_compile " \
                "WHERE BuildGuid = '<guid>' AND CompileSuccess = 'N'"


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (DatabaseSpec(), "sqlite:////b/records.sqlite3"),
        (DatabaseSpec(host="db", user="axion", password="pw"), "sqlite:////b/records.sqlite3"),
        (DatabaseSpec(url="mysql+mysqldb://axion@db:3306/axion", password="s3cret"),
         "mysql+mysqldb://axion:s3cret@db:3306/axion?charset=utf8mb4"),
        (DatabaseSpec(url="mysql+mysqldb://axion:inurl@db/axion?charset=latin1", password="x"),
         "mysql+mysqldb://axion:inurl@db/axion?charset=latin1"),
        (DatabaseSpec(url="postgresql://u@h/d", password="p"), "postgresql://u:p@h/d"),
    ],
)
def test_database_url(spec, expected):
    assert database_url(spec, Path("/b")) == expected


def test_database_key_hides_the_password():
    assert database_key("mysql+mysqldb://axion:s3cret@db/axion") == \
        "mysql+mysqldb://axion:***@db/axion"


def test_tables_are_created_on_first_use_and_read_back(tmp_path):
    engine = open_engine(f"sqlite:///{tmp_path / 'new' / 'records.sqlite3'}")
    assert latest_runs(engine, "demo") == [] and load_record(engine, "x") is None
    first = record()
    write_record(engine, first)
    assert set(inspect(engine).get_table_names()) == {
        "log_build_run", "log_build_step", "log_build_compile", "log_deployment"}
    assert load_record(engine, first.run.BuildGuid) == first
    write_record(engine, first)  # writing a run again replaces it, never duplicates it
    assert [r.BuildGuid for r in latest_runs(engine, "demo")] == [first.run.BuildGuid]


def test_last_compiling_run_skips_runs_without_compile_records(tmp_path):
    engine = open_engine(f"sqlite:///{tmp_path / 'records.sqlite3'}")
    t0 = datetime(2026, 3, 1, 12, 0, 0)
    compiled = record(started=t0)
    skipped = record(started=t0 + timedelta(minutes=5), compiled=False)
    other = record(package="other", started=t0 + timedelta(minutes=6))
    for item in (compiled, skipped, other):
        write_record(engine, item)
    assert last_compiling_run(engine, "demo", skipped.run.StartTime) == compiled.run.BuildGuid
    assert last_compiling_run(engine, "demo", t0 - timedelta(seconds=1)) is None


def test_unwritable_database_spools_and_the_next_run_writes_it(tmp_path):
    spool = tmp_path / "build" / "spool"
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the database folder should be")
    bad_url = f"sqlite:///{blocked / 'records.sqlite3'}"
    lost = record()
    result = store(bad_url, [spool], [lost])
    assert result.written == [] and len(result.spooled) == 1 and result.error
    payload = json.loads(result.spooled[0].read_text())
    assert payload["database"] == database_key(bad_url)

    good_url = f"sqlite:///{tmp_path / 'records.sqlite3'}"
    other = store(good_url, [spool], [record()])
    assert other.replayed == []  # spooled for another database: left alone
    blocked.unlink()
    blocked.mkdir()
    later = record(started=lost.run.StartTime + timedelta(hours=1))
    result = store(bad_url, [spool], [later])
    assert result.written == [later.run.BuildGuid]
    assert result.replayed == [lost.run.BuildGuid]
    assert list(spool.glob("*.json")) == [p for p in spool.glob("*.json")
                                          if json.loads(p.read_text())["database"] != payload[
                                              "database"]]
    assert load_record(open_engine(bad_url), lost.run.BuildGuid) == lost


# MariaDB ---------------------------------------------------------------------------------

def mariadb_up() -> bool:
    return subprocess.run(["mariadb-admin", "ping"], capture_output=True).returncode == 0


def wait_for(check, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.25)
    return False


def start_mariadb() -> bool:
    if mariadb_up():
        return True
    subprocess.run(["service", "mariadb", "start"], capture_output=True)
    return wait_for(mariadb_up, 30)


@pytest.fixture(scope="module")
def mariadb() -> str:
    """The axion_test database on the local MariaDB (started and provisioned if needed)."""
    if shutil.which("mariadb") is None or not start_mariadb():
        missing("MariaDB server cannot be started here")
    users = "".join(f"CREATE USER IF NOT EXISTS 'axion'@'{h}' IDENTIFIED BY 'axion'; "
                    f"GRANT ALL PRIVILEGES ON axion_test.* TO 'axion'@'{h}'; "
                    for h in ("127.0.0.1", "localhost"))
    subprocess.run(["mariadb", "-uroot", "-e",
                    f"CREATE DATABASE IF NOT EXISTS axion_test; {users} FLUSH PRIVILEGES;"],
                   capture_output=True)
    return MARIADB_URL


def seed_query(url: str, sql: str) -> list[tuple]:
    engine = open_engine(url)
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(text(sql))]
    engine.dispose()
    return rows


@pytest.mark.e2e
def test_mariadb_runs_answer_the_seed_queries_unchanged(mariadb):
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    older, newer = record(started=now), record(started=now + timedelta(microseconds=400))
    result = store(mariadb, [Path("/nonexistent/spool")], [older, newer])
    assert result.written == [older.run.BuildGuid, newer.run.BuildGuid], result.error
    runs = seed_query(mariadb, SEED_RUNS)
    assert runs[0] == (newer.run.BuildGuid, "failed", 12.5, "linux/amd64")
    assert runs[1][0] == older.run.BuildGuid  # same second: microseconds keep the order
    failures = seed_query(mariadb, SEED_FAILURES.replace("<guid>", newer.run.BuildGuid))
    assert failures == [("factory.report", "factory.report/ObjBad.py",
                         "ObjBad.py:3:1: Cython error: ünïcode and 'quotes'")]
    assert load_record(open_engine(mariadb), newer.run.BuildGuid) == newer


@pytest.mark.e2e
def test_doit_run_recorded_in_mariadb(tmp_path, mariadb):
    demo = make_demo(tmp_path / "ws", database_url=mariadb)
    demo.module("factory.report/ObjBroken.py", "def broken(:  # syntax error\n")
    done = demo.doit("--continue")
    assert "axion: recorded build" in done.stdout, done.stdout + done.stderr
    guid = last_guid(demo, mariadb)
    assert seed_query(mariadb, SEED_RUNS)[0][:2] == (guid, "failed")
    failures = seed_query(mariadb, SEED_FAILURES.replace("<guid>", guid))
    assert sorted(m for _, m, _ in failures) == ["factory.report/ObjBroken.py"] * 2
    assert steps_of(demo, guid, mariadb)["shout"][0] == "run"
    assert not (demo.build / "records.sqlite3").exists()


class PrivateMariaDB:
    """A MariaDB server of this test alone (own data folder and port), free to stop and start.

    The shared server is left running: other test sessions on the machine use it, and a
    provisioning script may restart it at any moment.
    """

    def __init__(self, folder: Path):
        self.folder, self.socket = folder, folder / "mysqld.sock"
        self.port = free_port()
        self.url = f"mysql+mysqldb://axion:axion@127.0.0.1:{self.port}/axion_test"
        self.process: subprocess.Popen | None = None

    def install(self) -> None:
        subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={self.folder / 'data'}",
                        "--user=root", "--auth-root-authentication-method=socket",
                        "--skip-test-db"], capture_output=True, check=True, timeout=120)

    def ping(self) -> bool:
        return subprocess.run(["mariadb-admin", f"--socket={self.socket}", "-uroot", "ping"],
                              capture_output=True).returncode == 0

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["mariadbd", "--no-defaults", f"--datadir={self.folder / 'data'}",
             f"--port={self.port}", "--bind-address=127.0.0.1", f"--socket={self.socket}",
             f"--pid-file={self.folder / 'mysqld.pid'}", "--user=root", "--skip-log-bin",
             "--innodb-buffer-pool-size=16M"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert wait_for(self.ping, 30), "private MariaDB did not start"

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(60)
            self.process = None

    def sql(self, statements: str) -> None:
        subprocess.run(["mariadb", f"--socket={self.socket}", "-uroot", "-e", statements],
                       capture_output=True, check=True)


@pytest.fixture
def private_mariadb(tmp_path):
    if shutil.which("mariadb-install-db") is None or shutil.which("mariadbd") is None:
        missing("MariaDB server is not installed")
    server = PrivateMariaDB(tmp_path / "mariadb")
    server.install()
    server.start()
    server.sql("CREATE DATABASE axion_test; CREATE USER 'axion'@'127.0.0.1' IDENTIFIED BY "
               "'axion'; GRANT ALL PRIVILEGES ON axion_test.* TO 'axion'@'127.0.0.1';")
    yield server
    server.stop()


@pytest.mark.e2e
def test_mariadb_stopped_spools_the_run_and_the_next_run_writes_both(tmp_path, private_mariadb):
    url = private_mariadb.url
    demo = make_demo(tmp_path / "ws", database_url=url)
    assert demo.doit("validate:demo").returncode == 0  # tables exist, one run recorded
    private_mariadb.stop()
    offline = demo.doit("validate:demo", "compile")
    private_mariadb.start()
    assert offline.returncode == 0, offline.stdout + offline.stderr
    assert "run spooled to" in offline.stdout
    spooled = list((demo.build / "spool").glob("*.json"))
    assert len(spooled) == 1
    payload = json.loads(spooled[0].read_text())
    lost_guid = payload["record"]["run"]["BuildGuid"]
    assert "axion:***@" in payload["database"] and "axion:axion" not in spooled[0].read_text()

    online = demo.doit("validate:demo", "compile")
    assert online.returncode == 0
    assert "wrote 1 spooled run(s)" in online.stdout, online.stdout
    assert list((demo.build / "spool").glob("*.json")) == []
    guids = [row[0] for row in seed_query(url, SEED_RUNS)]
    assert len(guids) == 3 and guids[1] == lost_guid and guids[0] == last_guid(demo, url)
    assert steps_of(demo, lost_guid, url)["compile:demo:amd64:factory.core/ObjConfig.py"] == (
        "run", "first run (no successful run recorded)")
    compiled = seed_query(url, "SELECT COUNT(*) FROM log_build_compile WHERE BuildGuid = "
                          f"'{lost_guid}' AND CompileSuccess = 'Y'")
    assert compiled == [(6,)]
