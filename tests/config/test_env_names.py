"""Environment overrides are checked against the schema: an `AXION_*` name that is no
option (nor one of the tool's own variables) is a problem naming the closest option, and
an override's value is typed whether or not the file sets the option."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from axion_build.config.env import TOOL_VARIABLES, option_names
from axion_build.config.model import SCHEMA
from axion_build.config.validate import validate_file
from workspace import ROOT, make_workspace, provision


@pytest.fixture
def ws(tmp_path, monkeypatch):
    workspace = make_workspace(tmp_path)
    provision(workspace)
    monkeypatch.chdir(workspace.root)
    return workspace


def problems(environ: dict[str, str]) -> list[str]:
    return [str(p) for p in validate_file(Path("config/shop.yaml"), environ=environ)]


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("AXION_DATABASE_PASWORD", "x", "environment variable AXION_DATABASE_PASWORD: names no "
     "option of the package config (fix: did you mean AXION_DATABASE_PASSWORD? Else unset "
     "AXION_DATABASE_PASWORD)"),
    ("AXION_DEPLOYMNT_TARGET", "local", "environment variable AXION_DEPLOYMNT_TARGET: names "
     "no option of the package config (fix: did you mean AXION_DEPLOYMENT_TARGET? Else "
     "unset AXION_DEPLOYMNT_TARGET)"),
    ("AXION_SERVICES_NOSUCH_PORT", "9000", "environment variable AXION_SERVICES_NOSUCH_PORT: "
     "names no option of the package config (fix: did you mean AXION_SERVICES_SHOP_PORT? "
     "Else unset AXION_SERVICES_NOSUCH_PORT)"),
    ("AXION_SERVICES_STOCK_PORT", "abc", "environment variable AXION_SERVICES_STOCK_PORT: "
     "services.stock.port: expected a port number (1-65535) or null, got 'abc' (fix: set "
     "AXION_SERVICES_STOCK_PORT to port)"),
])
def test_an_override_that_names_no_option_or_holds_a_bad_value_is_a_problem(ws, name, value,
                                                                             expected):
    assert problems({name: value}) == [expected]


def test_known_options_and_the_tools_own_variables_pass(ws):
    good = {"AXION_DATABASE_PASSWORD": "x" * 12, "AXION_DEPLOYMENT_TARGET": "none",
            "AXION_SERVICES_STOCK_PORT": "9810", "AXION_CACHE": "/tmp/c",
            "AXION_FLAG_SKIP_PUSH": "1", "AXION_DEPLOYMENT_GATE_TIMEOUT": "30"}
    assert problems(good) == []


def test_every_axion_variable_the_code_reads_is_an_option_or_a_tool_variable():
    """The list of the tool's own variables cannot drift from the code that reads them."""
    listed = subprocess.run(["git", "grep", "-ohE", r"AXION_[A-Z0-9_]*[A-Z0-9]", "--",
                             "axion_build", "tasks", "scripts", "run", "dockerfiles",
                             "charts", "caddy", "deploy"],
                            cwd=ROOT, capture_output=True, text=True, check=True).stdout
    options = set(option_names(SCHEMA, {}))
    stray = {name for name in set(listed.split())
             if name not in options and name not in TOOL_VARIABLES
             and not name.startswith(("AXION_FLAG", "AXION_SERVICES"))
             and not any(o.startswith(name + "_") for o in options)}
    assert not stray, sorted(stray)
    assert not re.search(r"AXION_TEST_", listed)


def test_an_unknown_log_level_is_a_problem_in_the_file_and_from_the_environment(ws):
    text = ws.config_file.read_text()
    ws.config_file.write_text(text + "\nruntime:\n  log_level: bogus\n")
    line = len(ws.config_file.read_text().splitlines())
    assert problems({}) == [f"config/shop.yaml:{line}: runtime.log_level: unknown log level "
                            "'bogus' (fix: use one of debug, info, warning, error, critical)"]
    ws.config_file.write_text(text)
    assert problems({"AXION_RUNTIME_LOG_LEVEL": "WARNING"}) == []
    assert problems({"AXION_RUNTIME_LOG_LEVEL": "loud"}) == [
        "environment variable AXION_RUNTIME_LOG_LEVEL: runtime.log_level: unknown log level "
        "'loud' (fix: use one of debug, info, warning, error, critical (or unset "
        "AXION_RUNTIME_LOG_LEVEL))"]
