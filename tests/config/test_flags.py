"""The seed's flags: known names and yes/no values only, checked before any task runs."""

from __future__ import annotations

import pytest

from axion_build.adapters.registry import RegistryClient
from axion_build.config.flags import FlagError, Flags, given_values, parse_flags
from needs import missing
from workspace import make_workspace, provision, ran_tasks

ALLOWED = "(use 1, 0, true, false, yes, no, on or off)"


@pytest.mark.parametrize(("variables", "environ", "expected"), [
    ({"skip_push": "y"}, {}, [f"doit variable skip_push: 'y' is not a yes or a no {ALLOWED}"]),
    ({"skip_pusj": "1"}, {}, ["doit variable skip_pusj: unknown flag (use one of: "
                              "skip_compile, skip_push, skip_deploy, pull_bases, expect_noop, "
                              "notify, platform, service, no_build_cache)"]),
    ({"platform": "linux/s390x"}, {}, ["doit variable platform: unsupported platform "
                                       "linux/s390x (supported: linux/amd64, linux/arm64, "
                                       "comma-separated)"]),
    ({"notify": "ops"}, {}, ["doit variable notify: 'ops' is not a list of mail addresses "
                             "(use notify=ops@example.com,dev@example.com)"]),
    ({}, {"AXION_FLAG_SKIP_PUSH": "maybe"},
     [f"environment variable AXION_FLAG_SKIP_PUSH: 'maybe' is not a yes or a no {ALLOWED}"]),
    ({}, {"AXION_FLAG_SKIP_PUSHH": "1"},
     ["environment variable AXION_FLAG_SKIP_PUSHH: unknown flag (use one of: skip_compile, "
      "skip_push, skip_deploy, pull_bases, expect_noop, notify, platform, service, "
      "no_build_cache)"]),
])
def test_bad_flags_are_named_with_what_they_allow(variables, environ, expected):
    with pytest.raises(FlagError) as error:
        given_values(variables, environ)
    assert str(error.value).splitlines() == expected


@pytest.mark.parametrize(("values", "expected"), [
    ({"skip_push": "1", "skip_compile": "TRUE", "skip_deploy": "on"},
     Flags(skip_compile=True, skip_push=True, skip_deploy=True)),
    ({"skip_push": "no", "skip_compile": "0", "skip_deploy": "off"}, Flags()),
    ({"no_build_cache": "1"}, Flags(no_build_cache=True)),
    ({"skip_push": "", "notify": "a@b.c; d@e.f", "platform": "linux/amd64,linux/arm64"},
     Flags(notify="a@b.c; d@e.f", platform="linux/amd64,linux/arm64")),
])
def test_good_flags(values, expected):
    assert parse_flags(values) == expected


def test_command_line_wins_over_the_environment():
    assert given_values({"skip_push": "0"}, {"AXION_FLAG_SKIP_PUSH": "1"}) == {"skip_push": "0"}


def catalog() -> list[str]:
    return RegistryClient("http://127.0.0.1:5000", "", "").catalog(limit=100000)


@pytest.fixture
def valpkg(tmp_path):
    """A package of its own (no one else's images or tags), pushing to its own namespace."""
    ws = make_workspace(tmp_path, package="valpkg", app_source=make_workspace(
        tmp_path / "src").app, config_source=make_workspace(tmp_path / "src2").config_file)
    text = ws.config_file.read_text().replace("name: shop", "name: valpkg")
    ws.config_file.write_text(text.replace("app_root: ../shop", "app_root: ../valpkg"))
    provision(ws)
    return ws


@pytest.mark.parametrize("flag", ["skip_push=y", "skip_pusj=1"])
def test_a_bad_flag_stops_the_run_before_anything_is_pushed(valpkg, flag):
    try:
        before = catalog()
    except OSError:
        missing("no registry on 127.0.0.1:5000")
    done = valpkg.doit("pipeline:valpkg", flag, AXION_REGISTRY_NAMESPACE="valflags")
    assert done.returncode == 3
    name = flag.split("=")[0]
    assert f"ERROR: doit variable {name}: " in done.stderr
    assert "nothing was run" in done.stderr and "Traceback" not in done.stderr
    assert ran_tasks(done.stdout) == []
    assert not valpkg.build.exists()
    assert [r for r in catalog() if r.startswith("valflags/")] == \
        [r for r in before if r.startswith("valflags/")] == []
