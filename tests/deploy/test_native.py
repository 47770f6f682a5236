"""Deploy on the supervisor substrate: real supervisord and Caddy running the compiled app
tree, gated through Caddy, the stack verbs through supervisorctl, rollback to the last good
app tree copy, a taken port; and the pure parts (status parsing, assertions) as tables.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest
from loopback import free_ports, get

from axion_build.adapters.supervisor import Program, ctl_line, parse_status, program_target
from axion_build.config.load import yaml_rt
from axion_build.deploy.native import DIGEST_SKIPPED, port_assertions, program_assertions
from axion_build.deploy.programs import ctl_args, program_lines
from needs import missing
from tasks.deploy import deploy_needs
from workspace import ROOT, make_workspace, provision

PACKAGE = "homechoice"
KEEP = ("report", "web", "workflow")
STATUS = """\
axion-homechoice:caddy           RUNNING   pid 101, uptime 0:00:07
axion-homechoice:report          RUNNING   pid 102, uptime 0:00:07
axion-homechoice:workflow        BACKOFF   Exited too quickly (process log may have details)
axion-homechoice:web             STOPPED   Dec 02 05:01 PM
"""


# ---------------------------------------------------------------- pure

def test_supervisorctl_status_is_parsed():
    assert parse_status(STATUS + "unix:///x/supervisor.sock no such file\n") == [
        Program("caddy", "RUNNING", "pid 101, uptime 0:00:07"),
        Program("report", "RUNNING", "pid 102, uptime 0:00:07"),
        Program("workflow", "BACKOFF", "Exited too quickly (process log may have details)"),
        Program("web", "STOPPED", "Dec 02 05:01 PM")]


def test_supervisorctl_lines(tmp_path):
    assert ctl_line(Path("/d/s.conf"), "status") == ["supervisorctl", "-c", "/d/s.conf", "status"]
    assert program_target("axion-p", "web") == "axion-p:web"
    assert program_target("axion-p") == "axion-p:*"
    cfg = gate_cfg(tmp_path)
    assert ctl_args(cfg, "restart", "web") == ["restart", f"axion-{PACKAGE}:web"]
    assert ctl_args(cfg, "stop") == ["stop", f"axion-{PACKAGE}:*"]
    assert program_lines(parse_status(STATUS))[3].split()[:2] == ["workflow", "BACKOFF"]


def gate_cfg(tmp_path):
    from test_deploy import gate_config

    return gate_config(tmp_path)


def test_program_assertions_name_what_does_not_run_and_skip_the_digest(tmp_path):
    cfg = gate_cfg(tmp_path)  # report, web, workflow
    conf = tmp_path / "live" / "supervisord.conf"
    (conf.parent / "logs").mkdir(parents=True)
    (conf.parent / "logs" / "workflow.log").write_text("Traceback\nValueError: bogus\n")
    found = program_assertions(cfg, conf, parse_status(STATUS))
    failing = {a["name"]: a["detail"] for a in found if not a["pass"]}
    assert set(failing) == {"workflow: running", "web: running"}
    assert failing["workflow: running"].endswith("last output: Traceback\nValueError: bogus")
    skipped = [a for a in found if a.get("skipped")]
    assert [a["name"] for a in skipped] == [f"{n}: runs the built digest"
                                            for n in ("report", "web", "workflow", "caddy")]
    assert all(a["pass"] and a["detail"] == DIGEST_SKIPPED for a in skipped)
    assert "does not apply to the supervisor substrate" in DIGEST_SKIPPED


def test_a_taken_port_names_the_option_and_the_fix(tmp_path):
    (found,) = port_assertions(gate_cfg(tmp_path), {"services.report.port": 9400})
    assert found == {"name": "stack started", "pass": False, "detail": (
        f"host port 9400 ({tmp_path}/homechoice.yaml: services.report.port) is taken by "
        "another program: free it, or set services.report.port (AXION_SERVICES_REPORT_PORT) "
        "to a free port")}


@pytest.mark.parametrize("substrate, skip_push, expected", [
    ("supervisor", True, ["image:p:context", "scaffold:p"]),
    ("supervisor", False, ["push:p", "pipeline:p:scaffold"]),
    ("k3s", False, ["scaffold:p"]),
])
def test_what_each_substrate_deploy_waits_for(substrate, skip_push, expected):
    from axion_build.config.flags import Flags

    assert deploy_needs("p", Flags(skip_push=skip_push), substrate) == expected


# ---------------------------------------------------------------- real supervisord (e2e)

class Native:
    """The workspace deployed on the supervisor substrate, and what to look at."""

    def __init__(self, ws, http_port: int):
        self.ws, self.http_port = ws, http_port
        self.folder = ws.build / "deploy" / "supervisor"
        self.conf = self.folder / "live" / "supervisord.conf"
        self.first = None

    def deploy(self, **env: str) -> subprocess.CompletedProcess:
        return self.ws.doit(f"deploy:{PACKAGE}", f"report:{PACKAGE}", "skip_push=1", **env)

    def query(self, sql: str, *params) -> list[tuple]:
        with sqlite3.connect(self.ws.root / "build" / "records.sqlite3") as conn:
            return conn.execute(sql, params).fetchall()

    def deployments(self) -> list[tuple[str, str, str, dict]]:
        rows = self.query("SELECT BuildGuid, Project, Status, Digests FROM log_deployment "
                          "ORDER BY Id")
        return [(g, p, s, json.loads(d)) for g, p, s, d in rows]

    def status(self) -> dict:
        code, body = get(f"http://127.0.0.1:{self.http_port}/report/status?format=json")
        assert code == 200, body
        return json.loads(body)

    def pids(self) -> dict[str, str]:
        done = subprocess.run(["supervisorctl", "-c", str(self.conf), "status"],
                              capture_output=True, text=True, timeout=60)
        return {p.name: p.description.split(",")[0] for p in parse_status(done.stdout)
                if p.state == "RUNNING"}

    def axion(self, *args: str) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AXION_")}
        env["PYTHONPATH"] = str(ROOT)
        return subprocess.run([sys.executable, "-m", "axion_build.cli", *args],
                              cwd=self.ws.root, env=env, capture_output=True, text=True,
                              timeout=300)


@pytest.fixture(scope="module")
def native(base_images):
    if not (shutil.which("supervisord") and shutil.which("caddy")):
        missing("needs supervisord and caddy (apt-get install caddy supervisor)")
    # a short folder: supervisord's unix socket path must stay under 108 characters
    root = Path(tempfile.mkdtemp(prefix="axn-"))
    ws = make_workspace(root, PACKAGE, app_source=ROOT / "examples" / PACKAGE,
                        config_source=ROOT / "config" / f"{PACKAGE}.yaml")
    provision(ws)
    report_port, web_port, http_port, https_port = free_ports(4)
    doc = yaml_rt().load(ws.config_file.read_text())
    for name in [n for n in doc["services"] if n not in KEEP]:
        del doc["services"][name]
    doc["services"]["report"].update(args=["--port", str(report_port)], port=report_port)
    doc["services"]["web"].update(args=[str(web_port)], port=web_port)
    doc["deployment"].update(target="local", substrate="supervisor",
                             project=f"axn-{uuid.uuid4().hex[:8]}", http_port=http_port,
                             https_port=https_port, gate={"timeout": 60, "min_pass_rate": 100})
    with ws.config_file.open("w") as handle:
        yaml_rt().dump(doc, handle)
    (ws.root / "pyproject.toml").write_text("[tool.axion]\n")
    state = Native(ws, http_port)
    try:
        state.first = state.deploy()
        yield state
    finally:
        pid = (state.conf.parent / "supervisord.pid")
        if pid.is_file():
            subprocess.run(["supervisorctl", "-c", str(state.conf), "shutdown"],
                           capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.e2e
def test_supervisor_deploy_runs_a_copy_of_the_compiled_tree_and_passes_the_gate(native):
    first = native.first
    out = first.stdout + first.stderr
    assert first.returncode == 0, out[-4000:]
    (row,) = native.deployments()
    guid, project, state, digests = row
    assert project.endswith(":supervisor") and state == "passed"
    release = native.folder / "releases" / guid
    assert digests == {"app_tree": str(release)}
    assert (release / "ServeReport.py").is_file()
    assert list(release.rglob("ObjConfig*.so")) and not list(release.rglob("ObjConfig.py"))
    report = native.status()
    assert report["app_root"] == str(release)
    assert report["tests"]["summary"]["pass_rate"] == 100
    gate = json.loads(native.query("SELECT Detail FROM log_deployment")[0][0])
    names = {a["name"]: a for a in gate}
    assert names["report: status pass_rate >= 100"]["pass"] is True
    assert names["web: answers through Caddy at /health"]["pass"] is True
    assert all(names[f"{p}: running"]["pass"] for p in (*KEEP, "caddy"))
    assert names["caddy: runs the built digest"].get("skipped") is True
    assert f"running caddy={release}" in out and "(supervisor): the gate passed" in out
    # the report and `axion summary` show where it went and every assertion
    text = (native.ws.build / "report" / "latest.txt").read_text()
    assert "deploy: local on supervisor" in text and "gate PASSED" in text
    assert "[skipped] caddy: runs the built digest: skipped: does not apply" in text
    assert "[passed] report: status pass_rate >= 100: pass_rate 100" in text
    html = (native.ws.build / "report" / "latest.html").read_text()
    assert '<h2>Deployment</h2>' in html and 'class="gate-passed' in html
    shown = native.axion("summary", PACKAGE)
    assert shown.returncode == 0, shown.stderr
    deployment = json.loads(shown.stdout)["deployment"]
    assert (deployment["target"], deployment["substrate"], deployment["gate"],
            deployment["rolled_back"]) == ("local", "supervisor", "passed", False)


@pytest.mark.e2e
def test_supervisor_stack_verbs(native):
    before = native.pids()
    assert set(before) == {*KEEP, "caddy"}
    done = native.axion("restart", PACKAGE, "web")
    assert done.returncode == 0, done.stdout + done.stderr
    after = native.pids()
    assert after["web"] != before["web"]
    assert {k: v for k, v in after.items() if k != "web"} == \
           {k: v for k, v in before.items() if k != "web"}
    shown = native.axion("status", PACKAGE)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert sorted(line.split()[:2] for line in shown.stdout.splitlines()[2:]) == \
           [[p, "RUNNING"] for p in sorted((*KEEP, "caddy"))]
    assert native.axion("stop", PACKAGE, "workflow").returncode == 0
    assert native.axion("status", PACKAGE, "workflow").returncode == 1
    assert native.axion("start", PACKAGE, "workflow").returncode == 0
    assert "workflow" in native.pids()
    missing = native.axion("restart", PACKAGE, "mailer")
    assert missing.returncode == 2 and "no service 'mailer' in homechoice" in missing.stderr


@pytest.mark.e2e
def test_supervisor_rollback_goes_back_to_the_last_good_tree(native):
    first_guid = native.deployments()[0][0]
    good = native.folder / "releases" / first_guid
    # ObjConfig stays Python: the report's "modules are compiled" check fails in the new tree
    done = native.deploy(AXION_COMPILE_EXCLUDE="factory.core/ObjConfig.py")
    out = done.stdout + done.stderr
    assert done.returncode != 0, out[-4000:]
    assert "report: status pass_rate >= 100: pass_rate 90" in out
    assert f"rolled back to the last good deployment (build {first_guid}), whose gate " \
           "passed again" in out
    *_, failed, back = native.deployments()
    assert failed[2] == "failed" and failed[3]["app_tree"] != str(good)
    assert back[:3] == (first_guid, failed[1], "rolled-back") and back[3] == {
        "app_tree": str(good)}
    assert native.status()["app_root"] == str(good)
    text = (native.ws.build / "report" / "latest.txt").read_text()
    assert f"gate FAILED, rolled back to build {first_guid} (its gate passed)" in text
    assert "[failed] report: status pass_rate >= 100: pass_rate 90" in text
    # only the good copy is kept: the failed one is never gone back to
    assert [p.name for p in (native.folder / "releases").iterdir()] == [first_guid]


@pytest.mark.e2e
def test_supervisor_taken_port_is_named_and_nothing_half_runs(native):
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.bind(("0.0.0.0", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        done = native.deploy(AXION_DEPLOYMENT_HTTP_PORT=str(port))
    finally:
        holder.close()
    out = done.stdout + done.stderr
    assert done.returncode != 0, out[-4000:]
    assert f"stack started: host port {port} (" in out
    assert "deployment.http_port) is taken by another program: free it, or set " \
           "deployment.http_port (AXION_DEPLOYMENT_HTTP_PORT) to a free port" in out
    assert "supervisord stopped: the stack is down; nothing runs now" in out
    assert not (native.conf.parent / "supervisord.pid").is_file() or native.pids() == {}
    assert [row[2] for row in native.deployments()[-2:]] == ["failed", "failed"]


def init_deploy(repo: Path, env: dict[str, str],
                **extra: str) -> tuple[subprocess.CompletedProcess, list[dict]]:
    """`doit deploy:shop` in a repo `axion init` made; the run and its gate's assertions."""
    done = subprocess.run([sys.executable, "-m", "doit", "-f", "dodo.py", "keys:shop",
                           "deploy:shop", "skip_push=1"], cwd=repo, env={**env, **extra},
                          capture_output=True, text=True, timeout=900)
    with sqlite3.connect(repo / "build" / "records.sqlite3") as db:
        detail = db.execute("SELECT Detail FROM log_deployment ORDER BY Id DESC "
                            "LIMIT 1").fetchone()[0]
    return done, json.loads(detail)


@pytest.mark.e2e
def test_an_app_made_by_axion_init_lists_its_missing_self_test_and_can_set_one(base_images):
    """An app made by `axion init` runs no ServeReport.py: its deploy lists the pass-rate
    assertion as skipped, with the reason; set to a path that is no status JSON, it fails."""
    from workspace import FIXTURES, run_env

    if not (shutil.which("supervisord") and shutil.which("caddy")):
        missing("needs supervisord and caddy (apt-get install caddy supervisor)")
    repo = Path(tempfile.mkdtemp(prefix="axi-"))  # short: supervisord's socket path
    conf = repo / "build" / "shop" / "deploy" / "supervisor" / "live" / "supervisord.conf"
    try:
        shutil.copytree(FIXTURES / "shop", repo / "shop",
                        ignore=shutil.ignore_patterns("__pycache__", "data.config"))
        env = {**run_env(repo / "config"), "AXION_DEPLOYMENT_TARGET": "local",
               "AXION_DEPLOYMENT_SUBSTRATE": "supervisor"}
        made = subprocess.run([sys.executable, "-m", "axion_build.cli", "init", "shop",
                               "--app-root", "shop"], cwd=repo, env=env, capture_output=True,
                              text=True, timeout=120)
        assert made.returncode == 0, made.stderr
        shop_port, http_port, https_port = free_ports(3)
        doc = yaml_rt().load((repo / "config" / "shop.yaml").read_text())
        doc["services"]["shop"].update(args=["--port", str(shop_port)], port=shop_port,
                                       route="/shop")  # what a user adds to serve it
        with (repo / "config" / "shop.yaml").open("w") as handle:
            yaml_rt().dump(doc, handle)
        env.update(AXION_DEPLOYMENT_HTTP_PORT=str(http_port),
                   AXION_DEPLOYMENT_HTTPS_PORT=str(https_port))

        done, gate = init_deploy(repo, env)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        (rate,) = [a for a in gate if "pass_rate" in a["name"]]
        assert rate == {"name": "self-test: status pass_rate >= 90", "pass": True,
                        "skipped": True, "detail": (
                            "skipped: no routed service runs ServeReport.py and "
                            "config/shop.yaml sets no deployment.gate.self_test: set it to "
                            "<service>:<path> of the status JSON behind Caddy (or to none)")}
        done, gate = init_deploy(repo, env, AXION_DEPLOYMENT_GATE_SELF_TEST="shop:/shop/cart")
        out = done.stdout + done.stderr
        assert done.returncode != 0, out[-3000:]
        assert "  - shop: status pass_rate >= 90: /shop/cart: not the status JSON" in out, out
        assert "supervisord stopped: the stack is down; nothing runs now" in out
    finally:
        if conf.is_file():
            subprocess.run(["supervisorctl", "-c", str(conf), "shutdown"],
                           capture_output=True, timeout=60)
        shutil.rmtree(repo, ignore_errors=True)
