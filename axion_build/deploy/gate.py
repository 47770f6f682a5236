"""The deploy gate: what a deployment must show before it counts as good.

Assertions in the report harness's own form (`name`, `pass`, `detail`), each made by a
pure function from facts: the containers as the engine sees them, what each routed
service answered through Caddy, the self-test's status JSON (`deployment.gate.self_test`).
`probe_routes` and `read_status` are the only parts that reach out (plain HTTP on
loopback).
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass

from axion_build.adapters.compose import Container
from axion_build.config.model import PackageConfig, ServiceSpec

REPORT_SCRIPT = "ServeReport.py"  # unless set otherwise, the self-test is its status JSON
STATUS_PATH = "/status?format=json"  # under the report service's route
NO_SELF_TEST = "none"  # deployment.gate.self_test: the package has no self-test to gate on


@dataclass(frozen=True)
class Answer:
    """What one GET got: HTTP status (0: no answer) and body, or why there was none."""

    status: int
    body: bytes = b""
    error: str = ""


def assertion(name: str, passed: bool, detail: str) -> dict:
    """One gate assertion, in the report harness's form."""
    return {"name": name, "pass": bool(passed), "detail": detail}


def failed(assertions: list[dict]) -> list[dict]:
    """The assertions that did not pass."""
    return [a for a in assertions if not a["pass"]]


def routed(cfg: PackageConfig) -> list[ServiceSpec]:
    """The services Caddy routes to: each must answer through it."""
    return [s for s in cfg.services if s.route and s.port]


def health_path(spec: ServiceSpec) -> str:
    """The health URL path of a routed service behind Caddy, e.g. `/webhook/health`."""
    return spec.route.rstrip("/") + "/health"


@dataclass(frozen=True)
class SelfTest:
    """Where the gate reads the self-test's status JSON: a routed service and the path
    through Caddy; or, with no service, why there is none."""

    service: str = ""
    path: str = ""
    missing: str = ""


def self_test(cfg: PackageConfig) -> SelfTest:
    """The self-test of `deployment.gate.self_test` (`<service>:<path>`), by default the
    routed service running ServeReport.py at `<route>/status?format=json` (pure)."""
    setting = cfg.deployment.gate.self_test.strip()
    if setting == NO_SELF_TEST:
        return SelfTest(missing=f"{cfg.path}: deployment.gate.self_test is {NO_SELF_TEST}")
    if setting:
        service, _, path = setting.partition(":")
        return SelfTest(service, path)
    spec = next((s for s in routed(cfg) if s.script == REPORT_SCRIPT), None)
    if spec is None:
        return SelfTest(missing=(
            f"no routed service runs {REPORT_SCRIPT} and {cfg.path} sets no "
            "deployment.gate.self_test: set it to <service>:<path> of the status JSON "
            f"behind Caddy (or to {NO_SELF_TEST})"))
    return SelfTest(spec.name, spec.route.rstrip("/") + STATUS_PATH)


def container_assertions(expected: Mapping[str, str],
                         containers: list[Container]) -> list[dict]:
    """Each expected service runs (not restarting, healthy when it has a healthcheck)
    the image it should, by digest (pure)."""
    seen = {c.service: c for c in containers}
    found = []
    for service, ref in sorted(expected.items()):
        box = seen.get(service)
        if box is None:
            found.append(assertion(f"{service}: running", False, "no container"))
            continue
        found.append(assertion(f"{service}: running", *running_state(box)))
        same = ref in box.repo_digests and box.image_ref == ref
        found.append(assertion(
            f"{service}: runs the built digest", same,
            f"{box.name} runs {box.image_ref} (image {box.image_id[:19]}, digests "
            f"{', '.join(box.repo_digests) or 'none'}); expected {ref}"))
    return found


def running_state(box: Container) -> tuple[bool, str]:
    """Whether a container runs steadily, and what it is doing (pure)."""
    where = f"{box.name}: {box.state}"
    if box.health:
        where += f", {box.health}"
    if box.restarts:
        where += f", restarted {box.restarts} time(s)"
    if box.state != "running":
        return False, f"{where} (exit code {box.exit_code})"
    if box.restarts or box.health in ("unhealthy", "starting"):
        return False, where
    return True, where


def route_assertions(cfg: PackageConfig, answers: Mapping[str, Answer]) -> list[dict]:
    """Each routed service answered 200 on its health path through Caddy (pure)."""
    found = []
    for spec in routed(cfg):
        path = health_path(spec)
        got = answers.get(path, Answer(0, error="not asked"))
        found.append(assertion(f"{spec.name}: answers through Caddy at {path}",
                               got.status == 200,
                               f"HTTP {got.status}" if got.status else f"no answer: {got.error}"))
    return found


def status_assertion(cfg: PackageConfig, answer: Answer | None) -> list[dict]:
    """The self-test's `pass_rate` is at least the gate's minimum (pure); skipped, with
    the reason, for a package without a self-test."""
    test = self_test(cfg)
    minimum = cfg.deployment.gate.min_pass_rate
    name = f"{test.service or 'self-test'}: status pass_rate >= {minimum}"
    if test.missing:
        return [{**assertion(name, True, f"skipped: {test.missing}"), "skipped": True}]
    if answer is None or answer.status != 200:
        why = f"HTTP {answer.status}" if answer and answer.status else (
            f"no answer: {answer.error}" if answer else "not asked")
        return [assertion(name, False, f"{test.path}: {why}")]
    try:
        tests = json.loads(answer.body)["tests"]
        rate = float(tests["summary"]["pass_rate"])
    except (ValueError, KeyError, TypeError) as exc:
        return [assertion(name, False, f"{test.path}: not the status JSON ({exc})")]
    bad = [f"{a.get('name')}: {a.get('detail')}" for a in tests.get("assertions", [])
           if not a.get("pass")]
    detail = f"pass_rate {rate:g}" + (f"; failed: {'; '.join(bad)}" if bad else "")
    return [assertion(name, rate >= minimum, detail)]


@functools.cache
def direct():
    """An opener that ignores any proxy of the environment: the gate asks loopback only
    (urllib is loaded here, not when the task list is)."""
    import urllib.request

    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


def get(url: str, timeout: float = 5.0) -> Answer:
    """One GET without any proxy from the environment."""
    import urllib.error

    try:
        with direct().open(url, timeout=timeout) as response:
            return Answer(response.status, response.read())
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, exc.read())
    except OSError as exc:
        return Answer(0, error=str(getattr(exc, "reason", exc)))


def get_until_ok(url: str, deadline: float) -> Answer:
    """GET `url` until it answers 200 or the monotonic `deadline` passes; the last answer."""
    while True:
        answer = get(url, timeout=max(1.0, min(5.0, deadline - time.monotonic())))
        if answer.status == 200 or time.monotonic() >= deadline:
            return answer
        time.sleep(0.5)


def probe_routes(cfg: PackageConfig, base: str, deadline: float) -> dict[str, Answer]:
    """What each routed service's health path answers through Caddy at `base`."""
    return {health_path(s): get_until_ok(base + health_path(s), deadline) for s in routed(cfg)}


def read_status(cfg: PackageConfig, base: str, deadline: float) -> Answer | None:
    """The self-test's status JSON through Caddy (None without a self-test)."""
    test = self_test(cfg)
    if test.missing:
        return None
    return get_until_ok(base + test.path, deadline)
