"""Which database URLs can hold the build records (a table), and validate refusing the others."""

from __future__ import annotations

from pathlib import Path

import pytest

from axion_build.config.validate import validate_file
from axion_build.records.dburl import URL_FIX, url_problem
from workspace import make_workspace, provision


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("notadb://x", "Can't load plugin: sqlalchemy.dialects:notadb"),
        ("mysql+mysqldb://user@host:notaport/db", "invalid literal for int()"),
        ("garbage", "Could not parse SQLAlchemy URL"),
        ("mysql+nodriver://a@h/x", "Can't load plugin"),
        ("postgresql://a@h/x", "its database driver is not installed"),
        ("mysql+mysqldb://u@h:99999/db", "port 99999 is not a port number"),
        ("sqlite://", "in-memory SQLite database loses every record"),
        ("mysql+mysqldb://axion:s3cret@127.0.0.1:3306/axion", ""),
        ("sqlite:////tmp/records.sqlite3", ""),
    ],
)
def test_url_problem(url, problem):
    found = url_problem(url)
    assert (problem in found) if problem else found == ""
    assert "s3cret" not in found


@pytest.fixture
def ws(tmp_path):
    workspace = make_workspace(tmp_path)
    provision(workspace)
    return workspace


def test_validate_refuses_a_malformed_database_url_at_its_line(ws, monkeypatch):
    monkeypatch.chdir(ws.root)
    with ws.config_file.open("a") as config:
        config.write('\ndatabase:\n  url: "mysql+mysqldb://user@host:notaport/db"\n')
    line = len(ws.config_file.read_text().splitlines())
    [problem] = validate_file(Path("config/shop.yaml"), environ={})
    assert (problem.line, problem.field) == (line, "database.url")
    assert str(problem).startswith(f"config/shop.yaml:{line}: database.url: not a database URL")
    assert problem.fix == URL_FIX


def test_validate_names_the_variable_of_a_bad_url_from_the_environment(ws, monkeypatch):
    monkeypatch.chdir(ws.root)
    with ws.config_file.open("a") as config:
        config.write('\ndatabase:\n  url: ""\n')
    [problem] = validate_file(Path("config/shop.yaml"), environ={"AXION_DATABASE_URL": "x"})
    assert str(problem.file) == "environment variable AXION_DATABASE_URL"
    assert problem.field == "database.url" and "unset it" in problem.fix


def test_the_validate_task_fails_with_the_problem_and_no_traceback(ws):
    with ws.config_file.open("a") as config:
        config.write('\ndatabase:\n  url: "notadb://x"\n')
    done = ws.doit("validate:shop")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "database.url: not a database URL SQLAlchemy can use" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
