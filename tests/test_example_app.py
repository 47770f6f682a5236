"""The example app runs for real: every service natively, health, heartbeats, the report
harness and a clean stop on SIGTERM/SIGINT.

All services start once per module, in parallel, on free ports (the configured
arguments with only the port number swapped), against a temporary AXION_HOME.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from axion_build.build.keys import provision_keys

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "examples" / "homechoice"
PACKAGE_CONFIG = ROOT / "config" / "homechoice.yaml"
PACKAGE = "homechoice"
RUNTIME_SECTIONS = ("package", "services", "database", "smtp", "runtime")
DOCUMENT_FOLDERS = ("local.documents", "data.documents", "archive.documents")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
DB_HOST_OVERRIDE = "db.override.internal"
CHECK_NAMES = ("config mounted", "PEM keys readable", "modules are compiled",
               "env overrides applied", "document folders writable", "services configured")
SERVICES = ("report", "webhook", "web", "workflow", "go", "scheduler", "mqtt", "import",
            "conversation", "ai", "monitor", "sms")
HTTP_SERVICES = ("report", "webhook", "web", "conversation", "ai")
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class Running:
    """A service process started by the tests, its log file and where it listens."""

    name: str
    service: str
    process: subprocess.Popen
    log: Path
    port: int | None = None
    route: str = ""

    def output(self) -> str:
        """Everything the service wrote so far (stdout and stderr)."""
        return self.log.read_text(encoding="utf-8", errors="replace")


def free_ports(count: int) -> list[int]:
    """`count` distinct ports nothing listens on right now."""
    sockets = []
    for _ in range(count):
        sock = socket.socket()
        sock.bind(("", 0))
        sockets.append(sock)
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def runtime_config(ports: dict[str, int]) -> dict:
    """The runtime sections of the package config, each HTTP service moved to a free port."""
    data = yaml.safe_load(PACKAGE_CONFIG.read_text(encoding="utf-8"))
    config = {section: data[section] for section in RUNTIME_SECTIONS}
    config["package"] = {"name": data["package"]["name"]}
    for name, spec in config["services"].items():
        if spec.get("port"):
            old, new = str(spec["port"]), ports[name]
            spec["args"] = [str(new) if arg == old else arg for arg in spec.get("args", [])]
            spec["port"] = new
    return config


def make_home(folder: Path, config: dict | None) -> Path:
    """An AXION_HOME: config.yaml, key pair and document folders (only the folder if no config)."""
    folder.mkdir(parents=True)
    if config is not None:
        (folder / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        provision_keys(folder / "data.config", PACKAGE)
        for name in DOCUMENT_FOLDERS:
            (folder / name).mkdir()
    return folder


def service_env(home: Path, **overrides: str) -> dict[str, str]:
    """The machine's environment without AXION_* settings, plus AXION_HOME and `overrides`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AXION_")}
    env.update(AXION_HOME=str(home), PYTHONDONTWRITEBYTECODE="1", **overrides)
    return env


@dataclass
class Deployment:
    """The AXION_HOME the services share and the processes by name."""

    home: Path
    running: dict[str, Running]

    def __getitem__(self, name: str) -> Running:
        return self.running[name]


def start(name: str, service: str, spec: dict, env: dict[str, str], logs: Path) -> Running:
    """Start one service from the app tree with its configured command line."""
    log = logs / f"{name}.log"
    with log.open("wb") as handle:
        process = subprocess.Popen([sys.executable, spec["script"], *spec.get("args", [])],
                                   cwd=APP, env=env, stdout=handle, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
    return Running(name, service, process, log, spec.get("port"), spec.get("route") or "")


def fetch(port: int, path: str, data: bytes | None = None,
          headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of one request to 127.0.0.1:`port` (no proxy)."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data,
                                     headers=headers or {})
    try:
        with DIRECT.open(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def wait_until(running: Running, ready, what: str, timeout: float = START_TIMEOUT) -> None:
    """Poll `ready()` until true; fail with the service's output if it exits or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        if running.process.poll() is not None:
            pytest.fail(f"{running.name} exited with {running.process.returncode} before "
                        f"{what}:\n{running.output()}")
        time.sleep(0.1)
    pytest.fail(f"{running.name}: no {what} within {timeout}s:\n{running.output()}")


def answers_health(running: Running) -> bool:
    """Whether the service answers /health with 200."""
    try:
        return fetch(running.port, "/health")[0] == 200
    except OSError:
        return False


def wait_ready(running: Running) -> None:
    """Wait for an HTTP service's /health or a worker's first heartbeat."""
    if running.port:
        wait_until(running, lambda: answers_health(running), "answer on /health")
    else:
        wait_until(running, lambda: " heartbeat 1 " in running.output(), "heartbeat")


def stop_all(running: dict[str, Running]) -> None:
    """Kill whatever is still running (the stop test normally ended everything)."""
    for service in running.values():
        if service.process.poll() is None:
            service.process.kill()
            service.process.wait(timeout=STOP_TIMEOUT)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory) -> Deployment:
    """Every configured service, plus report/ai variants, running at once."""
    base = tmp_path_factory.mktemp("deployment")
    logs = base / "logs"
    logs.mkdir()
    spare = free_ports(8)
    config = runtime_config(dict(zip(HTTP_SERVICES, spare[:5], strict=True)))
    home = make_home(base / "home", config)
    env = service_env(home, AXION_RUNTIME_HEARTBEAT_SECONDS="1",
                      AXION_DATABASE_HOST=DB_HOST_OVERRIDE)
    report = config["services"]["report"]
    ai = config["services"]["ai"]
    variants = {
        "report-plain": ("report", dict(report, args=["--port", str(spare[5])], port=spare[5]),
                         service_env(home)),
        "report-bare": ("report", dict(report, args=["--port", str(spare[6])], port=spare[6]),
                        service_env(make_home(base / "bare", None))),
        "ai-enabled": ("ai", dict(ai, args=["main", "--port", str(spare[7])], port=spare[7]),
                       dict(env, AXION_AI_ENABLED="1")),
    }
    running = {name: start(name, name, spec, env, logs)
               for name, spec in config["services"].items()}
    running.update({name: start(name, service, spec, variant_env, logs)
                    for name, (service, spec, variant_env) in variants.items()})
    try:
        for service in running.values():
            wait_ready(service)
        yield Deployment(home, running)
    finally:
        stop_all(running)


def status_json(running: Running) -> dict:
    """/report/status?format=json of a report instance."""
    code, headers, body = fetch(running.port, f"{running.route}/status?format=json")
    assert code == 200, body
    assert headers["Content-Type"] == "application/json"
    return json.loads(body)


def check(report: dict, name: str) -> dict:
    """One assertion of the report harness, by name."""
    matches = [item for item in report["tests"]["assertions"] if item["name"] == name]
    assert len(matches) == 1, f"{name!r} in {report['tests']['assertions']}"
    return matches[0]


def test_every_configured_service_is_started(deployment):
    config = yaml.safe_load(PACKAGE_CONFIG.read_text(encoding="utf-8"))
    assert tuple(config["services"]) == SERVICES
    assert all(deployment[name].process.poll() is None for name in SERVICES)


@pytest.mark.parametrize("name", HTTP_SERVICES)
def test_http_service_answers_health_at_root_and_under_its_route(deployment, name):
    running = deployment[name]
    for path in {"/health", f"{running.route.rstrip('/')}/health"}:
        code, headers, body = fetch(running.port, path)
        assert code == 200, (path, body)
        assert headers["Content-Type"] == "application/json"
        health = json.loads(body)
        assert (health["status"], health["service"], health["port"]) == ("ok", name,
                                                                         running.port)
    assert f"listening on 0.0.0.0:{running.port}" in running.output()


@pytest.mark.parametrize("name", ["report", "webhook", "conversation", "ai"])
def test_http_service_serves_only_under_its_route(deployment, name):
    code, _, body = fetch(deployment[name].port, "/elsewhere/page")
    assert code == 404
    assert json.loads(body)["status"] == 404


@pytest.mark.parametrize("name", ["workflow", "go", "scheduler", "mqtt", "import", "monitor",
                                  "sms"])
def test_worker_logs_start_and_heartbeats_line_by_line(deployment, name):
    running = deployment[name]
    wait_until(running, lambda: " heartbeat 2 " in running.output(), "second heartbeat")
    lines = running.output().splitlines()
    assert f"INFO {name}: started {name} " in lines[0]
    assert "heartbeat every 1s" in lines[0]
    assert any(f"INFO {name}: heartbeat 1 " in line for line in lines)


def test_report_json_is_a_self_test_harness(deployment):
    report = status_json(deployment["report"])
    assert report["package"] == PACKAGE
    summary, assertions = report["tests"]["summary"], report["tests"]["assertions"]
    assert summary["total"] == len(assertions) == summary["passed"] + summary["failed"]
    assert summary["passed"] == sum(item["pass"] for item in assertions)
    assert summary["pass_rate"] == summary["passed"] * 100 // summary["total"]
    assert isinstance(summary["pass_rate"], int)
    for item in assertions:
        assert set(item) == {"name", "pass", "detail"}
        assert isinstance(item["pass"], bool) and item["detail"]
    assert set(CHECK_NAMES) <= {item["name"] for item in assertions}
    for name in ("config mounted", "document folders writable", "services configured"):
        assert check(report, name)["pass"], check(report, name)


def test_report_modules_compiled_fails_when_running_from_sources(deployment):
    result = check(status_json(deployment["report"]), "modules are compiled")
    assert result["pass"] is False
    assert "factory.core/ObjConfig.py" in result["detail"]
    assert "factory.report/package.system/ObjReportStatus.py" in result["detail"]


def test_report_env_override_is_reflected(deployment):
    applied = check(status_json(deployment["report"]), "env overrides applied")
    assert applied["pass"], applied
    assert f"database.host='{DB_HOST_OVERRIDE}'" in applied["detail"]
    assert "file: '127.0.0.1'" in applied["detail"]
    plain = check(status_json(deployment["report-plain"]), "env overrides applied")
    assert plain == {"name": "env overrides applied", "pass": True,
                     "detail": "no overrides set"}


def test_report_keys_pass_then_fail_when_removed_or_mismatched(deployment, tmp_path):
    report, keys = deployment["report"], deployment.home / "data.config"
    assert check(status_json(report), "PEM keys readable")["pass"]
    aside = tmp_path / "aside"
    shutil.copytree(keys, aside)
    try:
        for pem in keys.glob("*.pem"):
            pem.unlink()
        missing = check(status_json(report), "PEM keys readable")
        assert missing["pass"] is False
        assert f"{PACKAGE}_private.pem" in missing["detail"] and "missing" in missing["detail"]
        provision_keys(tmp_path / "other", PACKAGE)
        shutil.copy2(aside / f"{PACKAGE}_private.pem", keys)
        shutil.copy2(tmp_path / "other" / f"{PACKAGE}_public.pem", keys)
        mismatch = check(status_json(report), "PEM keys readable")
        assert mismatch["pass"] is False and "matching pair" in mismatch["detail"]
    finally:
        shutil.rmtree(keys)
        shutil.copytree(aside, keys)
    assert check(status_json(report), "PEM keys readable")["pass"]


def test_report_without_config_keys_or_folders_fails_those_checks(deployment):
    report = status_json(deployment["report-bare"])
    for name in ("config mounted", "PEM keys readable", "document folders writable",
                 "services configured"):
        assert check(report, name)["pass"] is False, check(report, name)
    assert "no config file" in check(report, "config mounted")["detail"]
    assert "local.documents missing" in check(report, "document folders writable")["detail"]
    assert report["tests"]["summary"]["failed"] >= 5


def test_report_png_is_a_real_png(deployment):
    code, headers, body = fetch(deployment["report"].port, "/report/status?format=png")
    assert code == 200 and headers["Content-Type"] == "image/png"
    assert body.startswith(PNG_SIGNATURE)
    chunks, offset = {}, len(PNG_SIGNATURE)
    while offset < len(body):
        (length,) = struct.unpack(">I", body[offset:offset + 4])
        kind, data = body[offset + 4:offset + 8], body[offset + 8:offset + 8 + length]
        (crc,) = struct.unpack(">I", body[offset + 8 + length:offset + 12 + length])
        assert crc == zlib.crc32(kind + data) & 0xFFFFFFFF
        chunks[kind] = data
        offset += 12 + length
    assert list(chunks) == [b"IHDR", b"IDAT", b"IEND"]
    width, height, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, colour) == (8, 2)
    assert len(zlib.decompress(chunks[b"IDAT"])) == height * (1 + 3 * width)


def test_report_html_dashboard_lists_the_checks(deployment):
    code, headers, body = fetch(deployment["report"].port, "/report/status")
    assert code == 200 and headers["Content-Type"].startswith("text/html")
    page = body.decode("utf-8")
    assert all(name in page for name in CHECK_NAMES)
    assert 'src="/report/status?format=png"' in page


def test_website_serves_resource_web_and_nothing_outside_it(deployment):
    port = deployment["web"].port
    code, headers, body = fetch(port, "/")
    assert code == 200 and headers["Content-Type"].startswith("text/html")
    assert body == (APP / "resource.web" / "index.html").read_bytes()
    code, headers, _ = fetch(port, "/style.css")
    assert code == 200 and headers["Content-Type"].startswith("text/css")
    connection = socket.create_connection(("127.0.0.1", port), timeout=5)
    with connection:
        connection.sendall(b"GET /../ServeWebsite.py HTTP/1.0\r\n\r\n")
        answer = connection.makefile("rb").read()
    assert answer.startswith(b"HTTP/1.0 404")


def test_webhook_accepts_posts_and_logs_them(deployment):
    running = deployment["webhook"]
    payload = json.dumps({"event": "lead", "id": 7}).encode()
    code, _, body = fetch(running.port, "/webhook/crm-lead", data=payload,
                          headers={"Content-Type": "application/json"})
    assert code == 202, body
    receipt = json.loads(body)
    assert (receipt["accepted"], receipt["bytes"], receipt["kind"]) == ("crm-lead",
                                                                       len(payload), "json dict")
    wait_until(running, lambda: "webhook crm-lead received" in running.output(), "webhook log")
    assert fetch(running.port, "/webhook/crm-lead")[0] == 405


def test_conversation_listens_on_the_configured_port_and_replies(deployment):
    running = deployment["conversation"]
    code, _, body = fetch(running.port, "/conversation/message?text=Can+I+book+a+viewing")
    assert code == 200
    assert json.loads(body)["intent"] == "viewing"
    code, _, body = fetch(running.port, "/conversation/message",
                          data=json.dumps({"text": "hello there"}).encode())
    assert code == 200 and json.loads(body)["intent"] == "greeting"


def test_ai_runs_without_its_library_and_answers(deployment):
    for name in ("ai", "ai-enabled"):
        running = deployment[name]
        code, _, body = fetch(running.port, "/ai/similarity?a=sunny+flat&b=sunny+flat")
        assert code == 200
        assert json.loads(body)["similarity"] == pytest.approx(1.0)
    assert json.loads(fetch(deployment["ai"].port, "/ai/info")[2])["ai_enabled"] is False
    enabled = json.loads(fetch(deployment["ai-enabled"].port, "/ai/info")[2])
    try:
        import numpy  # noqa: F401
    except ImportError:
        assert enabled["engine"] == "python"
        assert "AI library is missing" in deployment["ai-enabled"].output()
    else:
        assert enabled["engine"].startswith("numpy")


def test_every_service_stops_cleanly_on_sigterm_or_sigint(deployment):
    """Runs last: it ends the deployment."""
    running = deployment.running
    sent = {name: signal.SIGINT if name == "report-bare" else signal.SIGTERM for name in running}
    for name, service in running.items():
        service.process.send_signal(sent[name])
    deadline = time.monotonic() + STOP_TIMEOUT
    for name, service in running.items():
        code = service.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        assert code == 0, f"{name} exited {code}:\n{service.output()}"
    for name, service in running.items():
        last = service.output().splitlines()[-1]
        assert f"stopped {service.service} on {sent[name].name}" in last, service.output()
