"""Deploy stage: compose up of the pushed digests, the gate, rollback, faults, the stack verbs.

Pure parts (config values, pipeline steps, gate assertions, compose command lines, the
deployments table on SQLite) are tables; the rest runs the real pipeline once on a copy of
the example (report, web and workflow behind Caddy) into the real engine, registry and
compose, then deploys it again broken in several ways on the same workspace.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from loopback import free_ports, get

from axion_build.adapters.compose import (
    Container,
    Stack,
    compose_environ,
    failure_text,
    port_taken,
    up_line,
)
from axion_build.cli import parser
from axion_build.config.flags import Flags
from axion_build.config.load import load_config, yaml_rt
from axion_build.config.model import PackageConfig, ServiceSpec
from axion_build.config.problems import ConfigError
from axion_build.deploy.control import (
    control_line,
    env_file_values,
    stack_command,
    stack_problem,
    status_lines,
)
from axion_build.deploy.gate import (
    Answer,
    container_assertions,
    route_assertions,
    running_state,
    status_assertion,
)
from needs import missing
from tasks.deploy import deploy_needs
from tasks.pipeline import pipeline_steps
from workspace import ROOT, make_workspace, provision

PACKAGE = "homechoice"
KEEP = ("report", "web", "workflow")  # two routed services (one the report) and a worker
REF = "127.0.0.1:5000/axion/homechoice-web@sha256:" + "a" * 64


# ---------------------------------------------------------------- config

def config_with(tmp_path: Path, **deployment) -> Path:
    """The example's config with `deployment` options set."""
    doc = yaml_rt().load((ROOT / "config" / f"{PACKAGE}.yaml").read_text())
    doc["package"]["app_root"] = str(ROOT / "examples" / PACKAGE)
    doc["deployment"].update(deployment)
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / f"{PACKAGE}.yaml"
    with path.open("w") as handle:
        yaml_rt().dump(doc, handle)
    return path


@pytest.mark.parametrize("deployment, environ, expected", [
    ({"target": "cloud"}, {}, r"deployment\.target: unknown deploy target 'cloud' "
                              r"\(fix: use one of: none, local, context:<name>\)"),
    ({"target": "context:"}, {}, r"deployment\.target: 'context:' names no docker context"),
    ({"target": "context:b", "substrate": "supervisor"}, {},
     r"deployment\.target: a docker context target deploys the compose substrate only"),
    ({"target": "local", "substrate": "swarm"}, {},
     r"deployment\.substrate: unknown substrate 'swarm'"),
    ({}, {"AXION_DEPLOYMENT_TARGET": "k8s"},
     r"^environment variable AXION_DEPLOYMENT_TARGET: deployment\.target: unknown"),
    ({"gate": {"min_pass_rate": 150}}, {},
     r"deployment\.gate\.min_pass_rate: pass rate 150 is not a percentage"),
    ({}, {"AXION_DEPLOYMENT_GATE_TIMEOUT": "0"},
     r"AXION_DEPLOYMENT_GATE_TIMEOUT: deployment\.gate\.timeout: timeout 0 is not"),
    ({"http_port": 9443, "https_port": 9443}, {},
     r"deployment\.https_port: Caddy's HTTP and HTTPS host ports are the same"),
    ({"project": "Bad Name"}, {}, r"deployment\.project: 'Bad Name' is not a compose project"),
    ({"gate": {"self_test": "report"}}, {},
     r"deployment\.gate\.self_test: 'report' is not <service>:<path>"),
    ({"gate": {"self_test": "mailer:/status"}}, {},
     r"deployment\.gate\.self_test: 'mailer' is not a service routed behind Caddy \(routed: "
     r"[a-z, ]*report"),
    ({}, {"AXION_DEPLOYMENT_GATE_SELF_TEST": "workflow:/status"},
     r"AXION_DEPLOYMENT_GATE_SELF_TEST: deployment\.gate\.self_test: 'workflow' is not a "
     r"service routed"),
    ({"gate": {"self_test": "report:/webhook/status"}}, {},
     r"deployment\.gate\.self_test: Caddy sends /webhook/status to webhook, not to report"),
])
def test_bad_deploy_settings_are_named(tmp_path, deployment, environ, expected):
    import re

    with pytest.raises(ConfigError) as raised:
        load_config(config_with(tmp_path, **deployment), environ=environ)
    found = [str(p) for p in raised.value.problems]
    assert any(re.search(expected, p) for p in found), found


def test_deploy_settings_default_and_come_from_the_environment(tmp_path):
    path = config_with(tmp_path)
    cfg = load_config(path, environ={})
    assert (cfg.deployment.target, cfg.deployment.gate.min_pass_rate,
            cfg.deployment.gate.timeout, cfg.deployment.gate.self_test) == ("none", 90, 120, "")
    cfg = load_config(path, environ={"AXION_DEPLOYMENT_GATE_MIN_PASS_RATE": "95",
                                     "AXION_DEPLOYMENT_TARGET": "local",
                                     "AXION_DEPLOYMENT_HTTP_PORT": "18080",
                                     "AXION_DEPLOYMENT_GATE_SELF_TEST": "web:/selftest"})
    assert (cfg.deployment.target, cfg.deployment.gate.min_pass_rate,
            cfg.deployment.http_port, cfg.deployment.gate.self_test) == (
        "local", 95, 18080, "web:/selftest")


# ---------------------------------------------------------------- pipeline wiring

@pytest.mark.parametrize("flags, multiarch, deploy, last", [
    (Flags(), False, True, "deploy:p"),
    (Flags(), False, False, "pipeline:p:scaffold"),
    (Flags(skip_push=True), False, True, "pipeline:p:scaffold"),
    (Flags(skip_deploy=True), False, True, "push:p"),
    (Flags(), True, True, "pipeline:p:scaffold"),
])
def test_the_pipeline_deploys_after_the_scaffold_only_when_asked(flags, multiarch, deploy,
                                                                 last):
    steps = pipeline_steps("p", flags, multiarch, deploy)
    assert steps[-1] == last
    assert steps.count("deploy:p") == (last == "deploy:p")


@pytest.mark.parametrize("flags, expected", [
    (Flags(), ["push:p", "pipeline:p:scaffold"]),
    (Flags(service="web"), ["push:p:web", "pipeline:p:scaffold"]),
    (Flags(skip_push=True), ["scaffold:p"]),
])
def test_deploy_waits_for_the_scaffold_and_the_pushes(flags, expected):
    assert deploy_needs("p", flags) == expected


DODO = """\
from tasks.config import task_config  # noqa: F401
from tasks.deploy import task_deploy  # noqa: F401
from tasks.scaffold import task_scaffold  # noqa: F401
from tasks.validate import task_validate  # noqa: F401

DOIT_CONFIG = {"backend": "sqlite3", "dep_file": ".doit.sqlite3", "verbosity": 2}
"""


@pytest.mark.parametrize("environ, expected", [
    ({}, "deployment.target is 'none': set it to 'local' (or AXION_DEPLOYMENT_TARGET=local)"),
    # skip_push and nothing built: no image of this checkout to deploy
    ({"AXION_DEPLOYMENT_TARGET": "local"},
     "no pushed image of this build for report, webhook, web, workflow")
])
def test_doit_deploy_says_what_it_needs(tmp_path, environ, expected):
    from axion_build.build.keys import provision_keys

    # a copy of the example with keys of its own: validate passes whatever the checkout has
    app = tmp_path / "app"
    shutil.copytree(ROOT / "examples" / PACKAGE, app,
                    ignore=shutil.ignore_patterns("__pycache__", "data.config", "*.documents"))
    provision_keys(app / "data.config", PACKAGE)
    config = config_with(tmp_path / "config")
    config.write_text(config.read_text().replace(str(ROOT / "examples" / PACKAGE), str(app)))
    (tmp_path / "dodo.py").write_text(DODO)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AXION_")}
    # the loopback registry, in a namespace nothing was pushed to
    env.update(AXION_CONFIG_DIR=str(tmp_path / "config"), PYTHONPATH=str(ROOT),
               AXION_REGISTRY_URL="127.0.0.1:5000",
               AXION_REGISTRY_NAMESPACE=f"nothing-here-{uuid.uuid4().hex[:8]}", **environ)
    done = subprocess.run([sys.executable, "-m", "doit", f"deploy:{PACKAGE}", "skip_push=1"],
                          cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and expected in done.stdout + done.stderr, done.stdout


# ---------------------------------------------------------------- gate (pure)

def box(service: str = "web", state: str = "running", health: str = "healthy",
        restarts: int = 0, ref: str = REF, digests: tuple[str, ...] = (REF,)) -> Container:
    return Container(name=f"x-{service}-1", service=service, state=state, health=health,
                     exit_code=0 if state == "running" else 2, restarts=restarts,
                     started="", image_ref=ref, image_id="sha256:" + "b" * 64,
                     repo_digests=digests)


@pytest.mark.parametrize("containers, failing", [
    ([box()], []),
    ([box(health="")], []),
    ([box(state="restarting", restarts=4)], ["web: running"]),
    ([box(state="exited")], ["web: running"]),
    ([box(health="unhealthy")], ["web: running"]),
    ([box(digests=("127.0.0.1:5000/axion/homechoice-web@sha256:" + "c" * 64,))],
     ["web: runs the built digest"]),
    ([box(ref="127.0.0.1:5000/axion/homechoice-web:latest")], ["web: runs the built digest"]),
    ([], ["web: running"]),
])
def test_container_assertions(containers, failing):
    found = container_assertions({"web": REF}, containers)
    assert [a["name"] for a in found if not a["pass"]] == failing


def test_a_restarting_container_says_so():
    passed, detail = running_state(box(state="restarting", restarts=3))
    assert not passed and detail == "x-web-1: restarting, healthy, restarted 3 time(s) " \
                                    "(exit code 2)"


@pytest.mark.parametrize("boxes, failing", [
    ([box(), box("report")], None),
    ([box(), box("report", health="starting")],
     ["stack started", "report: running"]),
])
def test_an_up_that_took_the_whole_timeout_and_exited_0_is_the_timeout(tmp_path, monkeypatch,
                                                                        boxes, failing):
    """compose 2.26 may exit 0 when `--wait-timeout` runs out between its polls: what is
    still starting then fails the deploy as the timeout (the engine and logs are patched:
    this checks only what is made of compose's answer)."""
    from axion_build.deploy import stack

    monkeypatch.setattr(stack, "stack_containers", lambda _: boxes)
    monkeypatch.setattr(stack, "container_logs", lambda *_, **__: "")
    monkeypatch.setattr(stack, "engine_problem", lambda _: "")
    cfg = gate_config(tmp_path)
    found = stack.ran_out(cfg, stack.package_stack(cfg), {"web": REF})
    if failing is None:
        assert found is None
        return
    assert [a["name"] for a in found.assertions if not a["pass"]] == failing
    assert found.assertions[0]["detail"].startswith(
        f"not running and healthy within {cfg.deployment.gate.timeout} s ({cfg.path}: "
        f"deployment.gate.timeout): application not healthy after "
        f"{cfg.deployment.gate.timeout}s (compose exited 0)")


def gate_config(tmp_path: Path, min_pass_rate: int = 90) -> PackageConfig:
    from axion_build.config.model import CompileSpec, DeploymentSpec, GateSpec

    services = (ServiceSpec("report", "ServeReport.py", port=9400, route="/report"),
                ServiceSpec("web", "ServeWebsite.py", port=9000, route="/"),
                ServiceSpec("workflow", "ServeWorkflow.py"))
    return PackageConfig(name=PACKAGE, path=tmp_path / "homechoice.yaml", app_root=tmp_path,
                         build_root=tmp_path / "build", services=services,
                         compile=CompileSpec(factory_sets=("factory.core",)),
                         deployment=DeploymentSpec(gate=GateSpec(min_pass_rate=min_pass_rate)))


def status(rate: float, failed: tuple[str, ...] = ()) -> Answer:
    assertions = [{"name": n, "pass": False, "detail": f"{n} broke"} for n in failed]
    body = {"tests": {"summary": {"pass_rate": rate}, "assertions": assertions}}
    return Answer(200, json.dumps(body).encode())


@pytest.mark.parametrize("answer, minimum, passed, detail", [
    (status(100), 90, True, "pass_rate 100"),
    (status(90, ("PEM keys readable",)), 90, True, "pass_rate 90; failed: PEM keys readable: "
                                                   "PEM keys readable broke"),
    (status(80, ("PEM keys readable", "config mounted")), 90, False,
     "pass_rate 80; failed: PEM keys readable: PEM keys readable broke; config mounted: "
     "config mounted broke"),
    (status(90, ("modules are compiled",)), 100, False, "pass_rate 90; failed: modules are"),
    (Answer(502, b"bad gateway"), 90, False, "/report/status?format=json: HTTP 502"),
    (Answer(0, error="connection refused"), 90, False, "no answer: connection refused"),
    (Answer(200, b"<html>"), 90, False, "not the status JSON"),
])
def test_status_assertion(tmp_path, answer, minimum, passed, detail):
    (found,) = status_assertion(gate_config(tmp_path, minimum), answer)
    assert found["name"] == f"report: status pass_rate >= {minimum}"
    assert found["pass"] is passed and detail in found["detail"]


def with_gate(cfg: PackageConfig, services: tuple[ServiceSpec, ...] | None = None,
              **gate) -> PackageConfig:
    """`cfg` with other services or gate settings."""
    from dataclasses import replace

    deployment = replace(cfg.deployment, gate=replace(cfg.deployment.gate, **gate))
    return replace(cfg, deployment=deployment, services=services or cfg.services)


def test_without_a_self_test_the_pass_rate_is_listed_as_skipped_with_the_reason(tmp_path):
    """An app made by `axion init` has no ServeReport.py: the gate says so, never drops it."""
    cfg = gate_config(tmp_path)
    cfg = with_gate(cfg, services=cfg.services[1:])
    (found,) = status_assertion(cfg, None)
    assert found["name"] == "self-test: status pass_rate >= 90"
    assert found["pass"] is True and found["skipped"] is True
    assert found["detail"] == (
        f"skipped: no routed service runs ServeReport.py and {cfg.path} sets no "
        "deployment.gate.self_test: set it to <service>:<path> of the status JSON behind "
        "Caddy (or to none)")
    (off,) = status_assertion(with_gate(gate_config(tmp_path), self_test="none"), None)
    assert off["skipped"] and off["detail"] == (
        f"skipped: {cfg.path}: deployment.gate.self_test is none")


@pytest.mark.parametrize("setting, service, path", [
    ("", "report", "/report/status?format=json"),  # today's: the report service's
    ("web:/selftest?format=json", "web", "/selftest?format=json"),
    (" report:/report/other ", "report", "/report/other"),
])
def test_the_self_test_endpoint_is_a_setting(tmp_path, setting, service, path):
    from axion_build.deploy.gate import self_test

    cfg = with_gate(gate_config(tmp_path), self_test=setting)
    assert self_test(cfg) == self_test(cfg).__class__(service, path)
    (found,) = status_assertion(cfg, Answer(502))
    assert (found["name"], found["detail"]) == (f"{service}: status pass_rate >= 90",
                                                f"{path}: HTTP 502")


def test_the_gate_reads_the_status_json_where_the_setting_says(tmp_path):
    """A real HTTP server on loopback stands in for Caddy: the gate asks the set path."""
    import http.server
    import threading

    from axion_build.deploy.gate import read_status

    asked = []

    class Status(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            asked.append(self.path)
            body = status(95).body
            self.send_response(200 if self.path == "/selftest?format=json" else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Status)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        cfg = with_gate(gate_config(tmp_path), self_test="web:/selftest?format=json")
        base = f"http://127.0.0.1:{server.server_port}"
        (found,) = status_assertion(cfg, read_status(cfg, base, 0))
    finally:
        server.shutdown()
        server.server_close()
    assert asked == ["/selftest?format=json"]
    assert found == {"name": "web: status pass_rate >= 90", "pass": True,
                     "detail": "pass_rate 95"}


def test_route_assertions_ask_each_routed_service_through_caddy(tmp_path):
    found = route_assertions(gate_config(tmp_path), {"/report/health": Answer(200),
                                                     "/health": Answer(502)})
    assert [(a["name"], a["pass"], a["detail"]) for a in found] == [
        ("report: answers through Caddy at /report/health", True, "HTTP 200"),
        ("web: answers through Caddy at /health", False, "HTTP 502")]


# ---------------------------------------------------------------- compose lines (pure)

STACK = Stack(folder=Path("/d"), project="axion-x", files=("compose.yaml", "compose.deploy.yaml"),
              env_file="deploy.env")


@pytest.mark.parametrize("endpoint, host", [
    ("unix:///tmp/axe-1/sock", "127.0.0.1"),
    ("ssh://deploy@box.example:2222", "box.example"),
    ("tcp://10.0.0.5:2376", "10.0.0.5"),
    ("tcp://[fd00::5]:2376", "fd00::5"),
    ("", "127.0.0.1"),
])
def test_the_gate_asks_the_host_of_the_docker_context(endpoint, host):
    from axion_build.adapters.compose import context_host

    assert context_host(endpoint) == host


def test_a_context_target_sends_every_engine_call_there(tmp_path):
    from dataclasses import replace

    from axion_build.adapters.compose import docker_line
    from axion_build.deploy.stack import package_stack

    cfg = gate_config(tmp_path)
    cfg = replace(cfg, deployment=replace(cfg.deployment, target="context:engine-b"))
    assert (cfg.deployment.context, cfg.deployment.deploys_remote) == ("engine-b", True)
    stack = package_stack(cfg)
    assert control_line(stack, "stop")[:4] == ["docker", "--context", "engine-b", "compose"]
    assert docker_line("", "ps") == ["docker", "ps"]
    assert gate_config(tmp_path).deployment.context == ""


def test_compose_lines():
    head = ["docker", "compose", "-p", "axion-x", "-f", "compose.yaml", "-f",
            "compose.deploy.yaml", "--env-file", "deploy.env"]
    assert up_line(STACK, 30)[:len(head)] == head
    assert up_line(STACK, 30)[len(head):][:5] == ["up", "-d", "--wait", "--wait-timeout", "30"]
    assert control_line(STACK, "restart", "web") == [*head, "restart", "--no-deps", "web"]
    assert control_line(STACK, "restart") == [*head, "restart"]
    assert control_line(STACK, "stop", "report") == [*head, "stop", "report"]


@pytest.mark.parametrize("output, expected, taken", [
    (" Container x-web-1  Recreate\n Container x-caddy-1  Starting\nError response from "
     "daemon: driver failed programming external connectivity on endpoint x-caddy-1: Bind "
     "for 0.0.0.0:8080 failed: port is already allocated\n",
     "Error response from daemon: driver failed programming external connectivity on "
     "endpoint x-caddy-1: Bind for 0.0.0.0:8080 failed: port is already allocated", True),
    ("Network x_default  Creating\nlisten tcp4 0.0.0.0:18090: bind: address already in use",
     "listen tcp4 0.0.0.0:18090: bind: address already in use", True),
    ("application not healthy after 3s\n", "application not healthy after 3s", False),
    (" 9daf045260a9 Extracting [==>   ]  16.91MB/17.38MB\n 241402b17bb0 Pull complete \n"
     " web Pulled \nError response from daemon: get x_local-documents: database not open\n",
     "Error response from daemon: get x_local-documents: database not open", False),
])
def test_compose_failures_keep_only_what_went_wrong(output, expected, taken):
    assert failure_text(output) == expected
    assert port_taken(failure_text(output)) is taken


@pytest.mark.parametrize("text, said", [
    ("Error response from daemon: get v: database not open", "Error response from daemon: "
                                                             "get v: database not open"),
    ("x\nCannot connect to the Docker daemon at unix:///s. Is the docker daemon running?",
     "Cannot connect to the Docker daemon at unix:///s. Is the docker daemon running?"),
    ("host port 8080 is taken", ""),
])
def test_an_engine_failure_is_found_in_what_compose_said(text, said):
    from axion_build.adapters.compose import engine_failure

    assert engine_failure(text) == said


def test_the_deploy_own_values_win_over_the_shell():
    env = compose_environ({"CADDY_HOST_HTTP_PORT": "80", "PATH": "/bin"},
                          {"CADDY_HOST_HTTP_PORT": "18080"})
    assert env == {"PATH": "/bin", "CADDY_HOST_HTTP_PORT": "18080"}
    assert env_file_values("# ports\nA=1\n\nB = two\n") == {"A": "1", "B": "two"}


def test_status_lines():
    lines = status_lines([box(), box("workflow", health="", state="restarting", restarts=2)])
    assert lines[1].split() == ["web", "running", "healthy", "0", REF]
    assert lines[2].split()[:4] == ["workflow", "restarting", "-", "2"]


@pytest.mark.parametrize("argv, verb, name", [
    (["restart", PACKAGE, "web"], "restart", "web"),
    (["status", PACKAGE], "status", ""),
    (["deploy", PACKAGE], "deploy", ""),
])
def test_cli_stack_verbs(argv, verb, name):
    args = parser().parse_args(argv)
    assert (args.verb, args.package, args.name) == (verb, PACKAGE, name)


def test_cli_refuses_a_service_name_after_another_verb(capsys):
    from axion_build.cli import main

    with pytest.raises(SystemExit):
        main(["validate", PACKAGE, "web"])
    assert "a service name follows only start, stop, restart, status" in capsys.readouterr().err


def test_the_stack_verbs_name_what_is_missing(tmp_path, capsys):
    cfg = gate_config(tmp_path)
    assert stack_problem(cfg, "").startswith(
        f"{PACKAGE} is not deployed here (no {tmp_path}/build/{PACKAGE}/deploy/compose/"
        "compose.deploy.yaml): run `doit deploy:homechoice` with deployment.target: local")
    assert stack_command("restart", cfg, "web") == 2
    assert "axion restart: homechoice is not deployed here" in capsys.readouterr().err
    folder = tmp_path / "build" / PACKAGE / "deploy" / "compose"
    folder.mkdir(parents=True)
    (folder / "compose.deploy.yaml").write_text("services: {}\n")
    assert stack_problem(cfg, "web") == ""
    assert stack_problem(cfg, "mailer") == (f"{cfg.path}: no service 'mailer' in homechoice "
                                            "(have: report, web, workflow, caddy)")


# ---------------------------------------------------------------- deployments table (SQLite)

def test_the_last_good_deployment_is_the_latest_that_passed(tmp_path):
    from axion_build.records.deployments import (
        FAILED,
        PASSED,
        ROLLED_BACK,
        Deployment,
        last_good,
        latest,
        save_deployment,
    )

    cfg = gate_config(tmp_path)
    assert last_good(cfg, "axion-homechoice") is None  # no table yet
    start = datetime(2026, 12, 1, 12, 0, 0)
    rows = [("b1", PASSED, "axion-homechoice"), ("b2", PASSED, "axion-homechoice"),
            ("b3", PASSED, "other-project"), ("b4", FAILED, "axion-homechoice"),
            ("b2", ROLLED_BACK, "axion-homechoice")]
    for i, (build, state, project) in enumerate(rows):
        save_deployment(cfg, Deployment(PACKAGE, build, project, json.dumps({"web": REF}),
                                        "c" * 64, state, "[]", start + timedelta(seconds=i)))
    good = last_good(cfg, "axion-homechoice")
    assert (good.BuildGuid, good.Status, good.digests) == ("b2", PASSED, {"web": REF})
    assert latest(cfg, "axion-homechoice").Status == ROLLED_BACK
    assert last_good(cfg, "other-project").BuildGuid == "b3"


def test_a_rollback_says_when_the_runtime_config_changed_since_the_good_deployment():
    from axion_build.deploy.rollout import config_note

    assert config_note("b1", "a" * 64, "a" * 64) == ""
    assert config_note("b1", "", "a" * 64) == ""  # recorded before `config:` wrote one
    note = config_note("b1", "a" * 64, "b" * 64)
    assert note == ("\nnote: build b1 was deployed with the runtime config sha256 aaaaaaaaaaaa; "
                    "the rollback runs its images with the current one, sha256 bbbbbbbbbbbb "
                    "(a rollback restores images, not config: revert the config change and "
                    "deploy again to go back to both)")


def test_the_config_note_names_the_runtime_overrides_of_the_environment():
    from axion_build.deploy.rollout import config_note

    note = config_note("b1", "a" * 64, "b" * 64, ("AXION_RUNTIME_LOG_LEVEL",))
    assert ("the rollback runs its images with the current one, sha256 bbbbbbbbbbbb "
            "(config.yaml and AXION_RUNTIME_LOG_LEVEL from the environment) (a rollback "
            "restores images, not config") in note


def test_runtime_overrides_of_the_environment_change_the_config_hash(tmp_path):
    """What the services run with is config.yaml and the AXION_{DATABASE,SMTP,RUNTIME}_*
    overrides passed to them: both count; a file alone hashes as it always did."""
    import hashlib

    from axion_build.config.runtime import runtime_config_path
    from axion_build.deploy.rollout import config_hash, runtime_overrides

    cfg = gate_config(tmp_path)
    assert config_hash(cfg, {}) == ""  # before `config:` wrote one
    path = runtime_config_path(cfg.build_dir)
    path.parent.mkdir(parents=True)
    path.write_text("runtime:\n  log_level: info\n")
    plain = config_hash(cfg, {"PATH": "/bin", "AXION_REGISTRY_URL": "127.0.0.1:5000"})
    assert plain == hashlib.sha256(path.read_bytes()).hexdigest()
    debug = config_hash(cfg, {"AXION_RUNTIME_LOG_LEVEL": "debug"})
    assert debug not in ("", plain)
    assert config_hash(cfg, {"AXION_RUNTIME_LOG_LEVEL": "debug"}) == debug
    assert config_hash(cfg, {"AXION_DATABASE_HOST": "db"}) not in (plain, debug)
    assert runtime_overrides({"AXION_RUNTIME_LOG_LEVEL": "debug", "AXION_CACHE": "/c",
                              "AXION_SMTP_HOST": "mx"}) == {
        "AXION_RUNTIME_LOG_LEVEL": "debug", "AXION_SMTP_HOST": "mx"}


def test_after_a_failed_down_an_engine_that_cannot_be_asked_leaves_what_runs_unknown(tmp_path):
    """A docker context of its own whose engine is gone: the message never says that
    nothing runs, only that what runs is unknown, and why."""
    from dataclasses import replace

    from axion_build.deploy.rollout import RUNNERS, after_down

    context = f"axt-gone-{uuid.uuid4().hex[:8]}"
    subprocess.run(["docker", "context", "create", context, "--docker",
                    f"host=unix://{tmp_path}/gone.sock"], check=True, capture_output=True)
    try:
        cfg = gate_config(tmp_path)
        cfg = replace(cfg, deployment=replace(cfg.deployment, target=f"context:{context}"))
        said = after_down(RUNNERS["compose"], cfg, "Cannot connect to the Docker daemon")
    finally:
        subprocess.run(["docker", "context", "rm", "-f", context], capture_output=True)
    assert said.startswith(f"what runs now is unknown: the Docker engine of docker context "
                           f"'{context}' ({cfg.path}: deployment.target) cannot be asked ("), said
    assert f"{tmp_path}/gone.sock" in said and "nothing runs" not in said
    assert after_down(RUNNERS["compose"], cfg, "") == "nothing runs now"


def test_after_a_failed_down_an_engine_that_answers_names_what_still_runs(tmp_path,
                                                                          base_images):
    """A container of the stack's project still runs on this engine: the message names it
    (service and image), never that nothing runs."""
    from dataclasses import replace

    from axion_build.deploy.rollout import RUNNERS, after_down

    project = f"axt-left-{uuid.uuid4().hex[:8]}"
    subprocess.run(["docker", "run", "-d", "--name", f"{project}-web-1", "--label",
                    f"com.docker.compose.project={project}", "--label",
                    "com.docker.compose.service=web", "--entrypoint", "sleep", base_images[0],
                    "300"], check=True, capture_output=True, timeout=120)
    try:
        cfg = gate_config(tmp_path)
        cfg = replace(cfg, deployment=replace(cfg.deployment, project=project))
        said = after_down(RUNNERS["compose"], cfg, "compose down: exit 1")
    finally:
        subprocess.run(["docker", "rm", "-f", f"{project}-web-1"], capture_output=True,
                       timeout=120)
    assert said == f"still running: web={base_images[0]}"


def test_a_rollback_to_images_a_registry_cannot_vouch_for_is_refused_by_name(tmp_path):
    """The registry does not answer (a loopback port nothing listens on): every image of
    the good deployment is named as not verified, with why; nothing raises."""
    from dataclasses import replace

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from loopback import free_ports

    from axion_build.config.model import CacheSpec, RegistrySpec
    from axion_build.deploy.rollout import RUNNERS

    key = tmp_path / "trusted.pub"
    key.write_bytes(ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    (port,) = free_ports(1)
    cfg = replace(gate_config(tmp_path), cache=CacheSpec(trusted_keys=(key,)),
                  registry=RegistrySpec(url=f"127.0.0.1:{port}", insecure=True))
    images = {"web": f"127.0.0.1:{port}/axion/homechoice-web@sha256:{'a' * 64}",
              "caddy": f"127.0.0.1:{port}/axion/homechoice-caddy@sha256:{'b' * 64}"}
    refused = RUNNERS["compose"].recheck(cfg, images)
    assert sorted(refused) == sorted(images.values())
    assert all(why for why in refused.values()), refused
    assert RUNNERS["supervisor"].recheck(cfg, {"app_tree": "/x"}) == {}


# ---------------------------------------------------------------- real deployments (e2e)

def compose_ok() -> bool:
    """Whether a Docker engine with the compose plugin answers."""
    checks = (["docker", "info"], ["docker", "compose", "version"])
    try:
        return all(subprocess.run(c, capture_output=True, timeout=30).returncode == 0
                   for c in checks)
    except (OSError, subprocess.TimeoutExpired):
        return False


def project_containers(project: str, context: str = "") -> dict[str, dict]:
    """Service → `docker inspect` record of each container of a compose project, on this
    engine or the one of docker `context`."""
    docker = ["docker", *(["--context", context] if context else [])]
    ids = subprocess.run([*docker, "ps", "-aq", "--filter",
                          f"label=com.docker.compose.project={project}"],
                         capture_output=True, text=True, timeout=60).stdout.split()
    if not ids:
        return {}
    raw = json.loads(subprocess.run([*docker, "inspect", *ids], capture_output=True,
                                    text=True, timeout=60).stdout)
    return {c["Config"]["Labels"]["com.docker.compose.service"]: c for c in raw}


def project_images(project: str, context: str = "") -> dict[str, str]:
    """Service → image reference of each running container of a compose project."""
    return {s: c["Config"]["Image"] for s, c in project_containers(project, context).items()
            if c["State"]["Status"] == "running"}


class Deployed:
    """The workspace, its project and ports, and helpers to look at what runs."""

    def __init__(self, ws, project: str, http_port: int):
        self.ws, self.project, self.http_port = ws, project, http_port
        self.first = None  # the first pipeline run

    def containers(self) -> dict[str, dict]:
        return project_containers(self.project)

    def running_images(self) -> dict[str, str]:
        return project_images(self.project)

    def query(self, sql: str, *params) -> list[tuple]:
        with sqlite3.connect(self.ws.root / "build" / "records.sqlite3") as conn:
            return conn.execute(sql, params).fetchall()

    def last_guid(self) -> str:
        return self.query("SELECT BuildGuid FROM log_build_run ORDER BY StartTime DESC")[0][0]

    def step_detail(self, guid: str, task: str) -> dict:
        rows = self.query("SELECT Detail FROM log_build_step WHERE BuildGuid = ? AND Task = ?",
                          guid, task)
        return json.loads(rows[0][0]) if rows and rows[0][0] else {}

    def deployments(self) -> list[tuple[str, str, dict]]:
        rows = self.query("SELECT BuildGuid, Status, Digests FROM log_deployment ORDER BY Id")
        return [(guid, state, json.loads(digests)) for guid, state, digests in rows]

    def axion(self, *args: str) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AXION_")}
        env["PYTHONPATH"] = str(ROOT)
        return subprocess.run([sys.executable, "-m", "axion_build.cli", *args],
                              cwd=self.ws.root, env=env, capture_output=True, text=True,
                              timeout=300)


@pytest.fixture(scope="module")
def deployed(tmp_path_factory, base_images):
    """The example (report, web, workflow) through the whole pipeline with deploy on, once."""
    if not compose_ok():
        missing("no Docker engine with the compose plugin")
    ws = make_workspace(tmp_path_factory.mktemp("deploy"), PACKAGE,
                        app_source=ROOT / "examples" / PACKAGE,
                        config_source=ROOT / "config" / f"{PACKAGE}.yaml")
    provision(ws)
    project = f"axt-{uuid.uuid4().hex[:8]}"
    http_port, https_port = free_ports(2)
    doc = yaml_rt().load(ws.config_file.read_text())
    for name in [n for n in doc["services"] if n not in KEEP]:
        del doc["services"][name]
    doc["registry"]["namespace"] = project
    # deployed, the example passes every self-test: one failing check fails the gate
    doc["deployment"].update(project=project, http_port=http_port, https_port=https_port,
                             gate={"timeout": 120, "min_pass_rate": 100})
    with ws.config_file.open("w") as handle:
        yaml_rt().dump(doc, handle)
    (ws.root / "pyproject.toml").write_text("[tool.axion]\n")  # the CLI's project root
    state = Deployed(ws, project, http_port)
    try:
        # the done criterion: `./run pipeline` with the target from the environment
        state.first = ws.doit(f"keys:{PACKAGE}", f"pipeline:{PACKAGE}",
                              AXION_DEPLOYMENT_TARGET="local")
        doc["deployment"]["target"] = "local"  # the later deploys: from the file
        with ws.config_file.open("w") as handle:
            yaml_rt().dump(doc, handle)
        yield state
    finally:
        subprocess.run(["docker", "compose", "-p", project, "down", "-v", "--timeout", "5"],
                       capture_output=True, timeout=300)


@pytest.mark.e2e
def test_the_pipeline_deploys_the_pushed_digests_and_passes_the_gate(deployed):
    first = deployed.first
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    guid = deployed.last_guid()
    (row,) = deployed.deployments()
    assert row[:2] == (guid, "passed")
    # the digests deployed are the ones this run's pushes recorded, and they run
    pushed = {s: deployed.step_detail(guid, f"push:{PACKAGE}:{s}")["values"]
              for s in (*KEEP, "caddy")}
    expected = {s: f"{v['pushed']}@{v['digest']}" for s, v in pushed.items()}
    assert row[2] == expected
    assert deployed.running_images() == expected
    gate = deployed.step_detail(guid, f"deploy:{PACKAGE}")["values"]["gate"]
    names = {a["name"]: a["pass"] for a in gate}
    assert names["report: status pass_rate >= 100"] is True
    assert names["web: answers through Caddy at /health"] is True
    assert all(names[f"{s}: runs the built digest"] for s in (*KEEP, "caddy"))
    assert all(names.values()), gate
    status, body = get(f"http://127.0.0.1:{deployed.http_port}/report/status?format=json")
    assert status == 200 and json.loads(body)["tests"]["summary"]["pass_rate"] == 100
    # the pipeline's report shows the deployment and its gate, assertion by assertion
    text = (deployed.ws.build / "report" / "latest.txt").read_text()
    assert f"deploy: local on compose ({deployed.project}): gate PASSED" in text
    assert "[passed] report: status pass_rate >= 100: pass_rate 100" in text
    assert "[passed] caddy: runs the built digest: " in text
    summary = json.loads((deployed.ws.build / "report" / "summary.json").read_text())
    assert summary["status"] == "success" and summary["deployment"]["gate"] == "passed"
    assert summary["deployment"]["rolled_back"] is False
    assert 'class="gate-passed' in (deployed.ws.build / "report" / "latest.html").read_text()


def retag(ref: str, digest: str, tag: str) -> str:
    """Put the manifest `ref@digest` under `tag` as it is; the tag's digest."""
    import urllib.request

    host, repo = ref.split("/", 1)
    base = f"http://{host}/v2/{repo}/manifests/"
    accept = ("application/vnd.docker.distribution.manifest.v2+json, "
              "application/vnd.oci.image.manifest.v1+json")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(urllib.request.Request(base + digest, headers={"Accept": accept}),
                     timeout=30) as answer:
        body, kind = answer.read(), answer.headers["Content-Type"]
    put = urllib.request.Request(base + tag, data=body, method="PUT",
                                 headers={"Content-Type": kind})
    with opener.open(put, timeout=30) as answer:
        return answer.headers["Docker-Content-Digest"]


@pytest.mark.e2e
def test_an_image_that_does_not_verify_is_never_deployed(deployed):
    """Another image pushed under the build tag of `web`, deployed from the registry as it
    is: the deploy refuses it before anything starts, naming it; what ran keeps running."""
    running = deployed.running_images()
    first = deployed.deployments()[0][0]
    pushed = deployed.step_detail(first, f"push:{PACKAGE}:web")["values"]
    ref, tag, digest = pushed["pushed"], pushed["tag"], pushed["digest"]
    subprocess.run(["docker", "tag", running["caddy"], f"{ref}:{tag}"], check=True)
    try:
        forged = subprocess.run(["docker", "push", f"{ref}:{tag}"], capture_output=True,
                                text=True, check=True).stdout
        forged = forged.rsplit("digest: ", 1)[1].split()[0]
        assert forged != digest
        # skip_push: deploy what the registry holds (a push would put the build back)
        done = deployed.ws.doit(f"deploy:{PACKAGE}", "skip_push=1")
    finally:  # the tag back on the built manifest, byte for byte
        back = retag(ref, digest, tag)
    out = done.stdout + done.stderr
    assert done.returncode != 0, out[-3000:]
    assert f"deploy:{PACKAGE}: refusing to deploy images that do not verify" in out
    assert f"  - {ref}@{forged}: it is not signed" in out
    assert out.count("  - ") == 1  # the other images verify
    assert deployed.running_images() == running and len(deployed.deployments()) == 1
    assert back == digest


@pytest.mark.e2e
def test_restart_of_one_service_restarts_only_it(deployed):
    before = {s: c["State"]["StartedAt"] for s, c in deployed.containers().items()}
    assert set(before) == {*KEEP, "caddy"}
    done = deployed.axion("restart", PACKAGE, "web")
    assert done.returncode == 0, done.stdout + done.stderr
    after = {s: c["State"]["StartedAt"] for s, c in deployed.containers().items()}
    assert after["web"] != before["web"]
    assert {s: t for s, t in after.items() if s != "web"} == \
           {s: t for s, t in before.items() if s != "web"}
    shown = deployed.axion("status", PACKAGE)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert [line.split()[:2] for line in shown.stdout.splitlines()[2:]] == \
           [[s, "running"] for s in sorted({*KEEP, "caddy"})]
    stopped = deployed.axion("stop", PACKAGE, "workflow")
    assert stopped.returncode == 0 and deployed.axion("status", PACKAGE).returncode == 1
    assert deployed.axion("start", PACKAGE, "workflow").returncode == 0
    assert deployed.containers()["workflow"]["State"]["Status"] == "running"


@pytest.mark.e2e
def test_a_failed_self_test_rolls_back_to_the_last_good_digests(deployed):
    good = deployed.running_images()
    # ObjConfig stays Python: the report's "modules are compiled" check fails in new images
    done = deployed.ws.doit(f"pipeline:{PACKAGE}",
                            AXION_COMPILE_EXCLUDE="factory.core/ObjConfig.py")
    out = done.stdout + done.stderr
    assert done.returncode != 0, out[-3000:]
    first_guid = deployed.deployments()[0][0]
    assert "the gate of" in out and "report: status pass_rate >= 100: pass_rate 90" in out
    assert "modules are compiled: 1 of" in out and "factory.core/ObjConfig.py" in out
    assert f"rolled back to the last good deployment (build {first_guid}), whose gate " \
           "passed again" in out
    assert "note: build" not in out  # the runtime config is the one the good build ran with
    assert deployed.running_images() == good
    guid = deployed.last_guid()
    *_, failed_row, back_row = deployed.deployments()
    assert failed_row[:2] == (guid, "failed") and failed_row[2]["report"] != good["report"]
    assert back_row == (first_guid, "rolled-back", good)
    detail = deployed.step_detail(guid, f"deploy:{PACKAGE}")["values"]
    assert [a["name"] for a in detail["gate"] if not a["pass"]] == \
           ["report: status pass_rate >= 100"]
    assert detail["rollback"]["passed"] is True and detail["rollback"]["to_build"] == first_guid
    status, body = get(f"http://127.0.0.1:{deployed.http_port}/report/status?format=json")
    assert status == 200 and json.loads(body)["tests"]["summary"]["pass_rate"] == 100


@pytest.mark.e2e
def test_a_service_that_exits_at_once_is_named_and_rolled_back(deployed):
    good = deployed.running_images()
    done = deployed.ws.doit(f"pipeline:{PACKAGE}", AXION_SERVICES_WORKFLOW_ARGS="bogus")
    out = done.stdout + done.stderr
    assert done.returncode != 0, out[-3000:]
    assert "  - workflow: running: " in out and "exit code 2" in out, out[-3000:]
    assert "invalid choice: 'bogus'" in out  # the service's own last words
    assert "rolled back to the last good deployment" in out
    assert deployed.running_images() == good


@pytest.mark.e2e
def test_never_healthy_in_time_with_no_earlier_good_deployment_leaves_no_stack(deployed):
    # a project of its own, deployed for the first time: no good deployment to go back to
    running = deployed.running_images()
    project = f"{deployed.project}-new"
    http_port, https_port = free_ports(2)
    other = Deployed(deployed.ws, project, http_port)
    try:
        done = deployed.ws.doit(f"deploy:{PACKAGE}", AXION_DEPLOYMENT_GATE_TIMEOUT="2",
                                AXION_DEPLOYMENT_PROJECT=project,
                                AXION_DEPLOYMENT_HTTP_PORT=str(http_port),
                                AXION_DEPLOYMENT_HTTPS_PORT=str(https_port))
        out = done.stdout + done.stderr
        assert done.returncode != 0, out[-3000:]
        assert "stack started: not running and healthy within 2 s" in out
        assert "deployment.gate.timeout" in out and "  - report: running: " in out
        assert f"no earlier deployment of {project} passed its gate, so nothing to go back " \
               "to: compose down, the stack is down; nothing runs now" in out
        assert other.containers() == {}
    finally:
        subprocess.run(["docker", "compose", "-p", project, "down", "-v", "--timeout", "5"],
                       capture_output=True, timeout=300)
    assert other.query("SELECT Status FROM log_deployment WHERE Project = ?", project) == \
           [("failed",)]
    # the package's own deployment was not touched
    assert deployed.running_images() == running


@pytest.mark.e2e
def test_the_engine_stopping_mid_deploy_is_named_and_recorded(deployed):
    """A deploy to a second engine through a docker context; the engine stops while compose
    pulls and starts the stack there (the system engine is never touched)."""
    import time

    from engine2 import start_engine, stop_engine

    from workspace import db_options

    running = deployed.running_images()
    project = f"{deployed.project}-b"
    http_port, https_port = free_ports(2)
    engine = start_engine()
    ws = deployed.ws
    try:
        env = ws.env(AXION_DEPLOYMENT_TARGET=f"context:{engine.context}",
                     AXION_DEPLOYMENT_PROJECT=project, AXION_DEPLOYMENT_HTTP_PORT=str(http_port),
                     AXION_DEPLOYMENT_HTTPS_PORT=str(https_port))
        line = [sys.executable, "-m", "doit", "run", "-f", str(ws.tool / "dodo.py"), "-d",
                str(ws.root), *db_options(ws.root, "run"), f"deploy:{PACKAGE}"]
        deploy = subprocess.Popen(line, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 300
        # mid-deploy: the engine holds a first pulled image of the stack, not yet all of it
        while not engine.docker("images", "-q", check=False).stdout.strip():
            assert deploy.poll() is None, deploy.stdout.read()
            assert time.monotonic() < deadline, "engine B pulled nothing in 300 s"
            time.sleep(0.2)
        engine.process.terminate()
        engine.process.wait(90)
        out, _ = deploy.communicate(timeout=900)
    finally:
        stop_engine(engine)
    assert deploy.returncode != 0, out[-4000:]
    assert ("  - engine answers: the Docker engine of docker context "
            f"'{engine.context}' (config/{PACKAGE}.yaml: deployment.target) stopped "
            "answering during the deploy (Cannot connect to the Docker daemon at "
            f"unix://{engine.socket}") in out, out[-4000:]
    assert f"start it again and run `doit deploy:{PACKAGE}`" in out
    assert f"no earlier deployment of {project} passed its gate, so nothing to go back to: " \
           "compose down, stack down failed too: " in out
    # the engine cannot be asked what still runs there: never "nothing runs now"
    assert ("; what runs now is unknown: the Docker engine of docker context "
            f"'{engine.context}' (config/{PACKAGE}.yaml: deployment.target) cannot be asked (") \
        in out, out[-4000:]
    assert "nothing runs now" not in out
    (state, detail), = deployed.query(
        "SELECT Status, Detail FROM log_deployment WHERE Project = ?", project)
    assert state == "failed"
    assert json.loads(detail)[0]["name"] == "engine answers"
    guid = deployed.last_guid()
    assert deployed.query("SELECT Status FROM log_build_step WHERE BuildGuid = ? AND Task = ?",
                          guid, f"deploy:{PACKAGE}") == [("failed",)]
    # the system engine's deployment of the package was not touched
    assert deployed.running_images() == running


@pytest.mark.e2e
def test_a_deploy_through_a_docker_context_runs_on_that_engine_and_passes(deployed):
    """The pushed digests deployed to a second engine, reached only through its docker
    context: that engine pulls them, runs them behind its Caddy, and the gate passes."""
    from engine2 import start_engine, stop_engine

    running = deployed.running_images()
    project = f"{deployed.project}-ctx"
    http_port, https_port = free_ports(2)
    engine = start_engine(networks=True)
    try:
        done = deployed.ws.doit(f"deploy:{PACKAGE}",
                                AXION_DEPLOYMENT_TARGET=f"context:{engine.context}",
                                AXION_DEPLOYMENT_PROJECT=project,
                                AXION_DEPLOYMENT_HTTP_PORT=str(http_port),
                                AXION_DEPLOYMENT_HTTPS_PORT=str(https_port))
        out = done.stdout + done.stderr
        assert done.returncode == 0, out[-4000:]
        (state, digests), = deployed.query(
            "SELECT Status, Digests FROM log_deployment WHERE Project = ?", project)
        assert state == "passed"
        # engine B runs exactly the digests the system engine runs, pulled from the registry
        assert project_images(project, engine.context) == json.loads(digests) == running
        gate = deployed.step_detail(deployed.last_guid(), f"deploy:{PACKAGE}")["values"]["gate"]
        assert gate and all(a["pass"] for a in gate), gate
        status, body = get(f"http://127.0.0.1:{http_port}/report/status?format=json")
        assert status == 200 and json.loads(body)["tests"]["summary"]["pass_rate"] == 100
    finally:
        engine.docker("compose", "-p", project, "down", "-v", "--timeout", "5", check=False)
        stop_engine(engine)
    # the system engine's deployment of the package was not touched
    assert deployed.running_images() == running


@pytest.mark.e2e
def test_a_taken_port_is_named_and_leaves_no_stack(deployed):
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.bind(("0.0.0.0", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        done = deployed.ws.doit(f"deploy:{PACKAGE}", AXION_DEPLOYMENT_HTTP_PORT=str(port))
    finally:
        holder.close()
    out = done.stdout + done.stderr
    assert done.returncode != 0, out[-3000:]
    assert f"stack started: host port {port} (" in out
    assert "deployment.http_port) is taken by another program: free it, or set " \
           "deployment.http_port (AXION_DEPLOYMENT_HTTP_PORT) to a free port" in out
    assert "nothing runs now" in out
    assert deployed.containers() == {}
    guid = deployed.last_guid()
    assert deployed.query("SELECT Status FROM log_build_step WHERE BuildGuid = ? AND Task = ?",
                          guid, f"deploy:{PACKAGE}") == [("failed",)]
    # this deploy and the rollback to the first good one: both failed on the port
    first_guid = deployed.deployments()[0][0]
    assert [row[:2] for row in deployed.deployments()[-2:]] == [(guid, "failed"),
                                                                (first_guid, "failed")]



@pytest.mark.e2e
def test_a_rollback_under_a_runtime_override_says_the_config_changed(deployed):
    """The gate asks for the self-test where deployment.gate.self_test says (here a path
    that is no status JSON, so the gate fails); the rollback to the first build runs with
    AXION_RUNTIME_LOG_LEVEL from the environment, and says so as for a changed file."""
    first_guid = deployed.deployments()[0][0]
    done = deployed.ws.doit(f"deploy:{PACKAGE}", AXION_RUNTIME_LOG_LEVEL="debug",
                            AXION_DEPLOYMENT_GATE_SELF_TEST="report:/report/no-such-status")
    out = done.stdout + done.stderr
    assert done.returncode != 0, out[-3000:]
    assert "  - report: status pass_rate >= 100: /report/no-such-status: " in out, out[-3000:]
    assert f"the rollback to build {first_guid} failed its gate too" in out
    assert f"note: build {first_guid} was deployed with the runtime config sha256 " in out
    assert "(config.yaml and AXION_RUNTIME_LOG_LEVEL from the environment)" in out
    assert deployed.containers() == {}  # both gates failed: the stack is down


def unsigned_image(base: str, repo: str) -> tuple[str, str]:
    """An image of its own pushed to `repo`, which no key signed: (local tag, digest)."""
    tag = f"{repo}:axt-unsigned-{uuid.uuid4().hex[:8]}"
    recipe = f"FROM {base}\nLABEL org.axion.test={tag.rsplit(':', 1)[1]}\n"
    subprocess.run(["docker", "build", "-q", "-t", tag, "-"], input=recipe, text=True,
                   check=True, capture_output=True, timeout=300)
    pushed = subprocess.run(["docker", "push", tag], capture_output=True, text=True,
                            check=True, timeout=300).stdout
    return tag, pushed.rsplit("digest: ", 1)[1].split()[0]


@pytest.mark.e2e
def test_a_rollback_to_images_that_no_longer_verify_is_refused_and_what_runs_keeps_running(
        deployed):
    """The last good deployment's web image is now one no trusted key signed: after a
    failed gate the rollback names it and refuses; the failed deployment keeps running."""
    from datetime import UTC

    (first, _, digests), *_ = deployed.deployments()
    repo = digests["web"].split("@")[0]
    tag, digest = unsigned_image(digests["caddy"], repo)
    try:
        good = {**digests, "web": f"{repo}@{digest}"}
        stamp = datetime.now(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
        with sqlite3.connect(deployed.ws.root / "build" / "records.sqlite3") as conn:
            conn.execute("INSERT INTO log_deployment (Package, BuildGuid, Project, Digests, "
                         "ConfigHash, Status, Detail, DeployTime) VALUES (?, ?, ?, ?, '', "
                         "'passed', '[]', ?)", (PACKAGE, str(uuid.uuid4()), deployed.project,
                                                json.dumps(good), stamp))
        done = deployed.ws.doit(f"deploy:{PACKAGE}", f"report:{PACKAGE}",
                                AXION_DEPLOYMENT_GATE_SELF_TEST="report:/report/no-such-status")
    finally:
        subprocess.run(["docker", "rmi", tag], capture_output=True, timeout=60)
    out = done.stdout + done.stderr
    assert done.returncode != 0, out[-3000:]
    assert "not rolled back to the last good deployment (build " in out, out[-3000:]
    assert "its images no longer verify (signature, attestations and SBOM by a trusted key)" \
        in out
    assert f"  - {repo}@{digest}: " in out
    assert f"  - {digests['report']}: " not in out  # the others verify
    assert "nothing was started or stopped; running now: " in out
    guid, state, ran = deployed.deployments()[-1]
    assert (guid, state) == (deployed.last_guid(), "failed")  # no rollback was recorded
    assert deployed.running_images() == ran  # what the failed deploy started still runs
    detail = deployed.step_detail(guid, f"deploy:{PACKAGE}")["values"]
    assert list(detail["rollback"]["refused"]) == [f"{repo}@{digest}"]
    assert first != detail["rollback"]["refused_build"]
    text = (deployed.ws.build / "report" / "latest.txt").read_text()
    assert (f"gate FAILED, not rolled back: the images of build "
            f"{detail['rollback']['refused_build']} no longer verify ({repo}@{digest})") in text
