"""One deployment of the compose scaffold: pin the images by digest, `up --wait`, gate.

The scaffold's compose.yaml stays as written; a deployment adds `compose.deploy.yaml`
(every image by the digest it must run) and `deploy.env` (Caddy's host ports), so the
CLI's start/stop/restart/status act on exactly what was deployed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from axion_build.adapters.compose import (
    ComposeError,
    Container,
    Stack,
    container_logs,
    context_endpoint,
    context_host,
    down_line,
    engine_failure,
    engine_problem,
    port_taken,
    run_compose,
    stack_containers,
    up_line,
)
from axion_build.config.model import PackageConfig
from axion_build.deploy.gate import (
    assertion,
    container_assertions,
    failed,
    probe_routes,
    read_status,
    route_assertions,
    status_assertion,
)
from axion_build.deploy.scaffold import deploy_dir
from axion_build.render import render

OVERRIDE_FILE = "compose.deploy.yaml"
ENV_FILE = "deploy.env"
# time for compose itself (creating containers, networks) beyond the gate's own timeout
COMPOSE_MARGIN = 60
ENGINE_STOP_WAIT = 30  # seconds a stopping engine gets to be gone (it stops containers first)
PROBE_MINIMUM = 15  # seconds the checks through Caddy get, however long `up` took


@dataclass(frozen=True)
class Result:
    """One deployment's gate: every assertion, and what runs afterwards."""

    images: dict[str, str]
    assertions: list[dict]
    running: dict[str, str] = field(default_factory=dict)  # service → image reference

    @property
    def passed(self) -> bool:
        """Whether every assertion passed."""
        return not failed(self.assertions)


def project_name(cfg: PackageConfig) -> str:
    """The compose project the package deploys as (`axion-<package>` by default)."""
    return cfg.deployment.project or f"axion-{cfg.name}"


def package_stack(cfg: PackageConfig) -> Stack:
    """The package's deployed compose stack: scaffold, pinned images, host ports."""
    return Stack(folder=deploy_dir(cfg, "compose"), project=project_name(cfg),
                 files=("compose.yaml", OVERRIDE_FILE), env_file=ENV_FILE,
                 context=cfg.deployment.context)


def gate_base(cfg: PackageConfig) -> str:
    """Where the gate reaches Caddy: this host, or the host of the target's docker context."""
    context = cfg.deployment.context
    host = context_host(context_endpoint(context)) if context else "127.0.0.1"
    return f"http://{host}:{cfg.deployment.http_port}"


def engine_where(cfg: PackageConfig) -> str:
    """The engine a deployment runs on, for messages."""
    if context := cfg.deployment.context:
        return f"of docker context {context!r} ({cfg.path}: deployment.target)"
    return "of this host"


def engine_gone_within(context: str, seconds: float) -> str:
    """Why the engine does not answer once it stops doing so within `seconds`, else ''."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if problem := engine_problem(context):
            return problem
        time.sleep(1)
    return ""


def engine_check(cfg: PackageConfig, result: Result) -> Result:
    """A failed gate whose engine no longer answers says so first: the cause of the rest."""
    if result.passed:
        return result
    context = cfg.deployment.context
    problem = engine_problem(context)
    said = engine_failure("\n".join(a["detail"] for a in result.assertions))
    if said and not problem:  # an engine that is stopping still answers for a while
        problem = engine_gone_within(context, ENGINE_STOP_WAIT)
    if not (problem or said):
        return result
    what = (f"stopped answering during the deploy ({problem})" if problem else
            f"failed during the deploy ({said})")
    gone = assertion("engine answers", False,
                     f"the Docker engine {engine_where(cfg)} {what}: start it again and run "
                     f"`doit deploy:{cfg.name}`; "
                     "containers it ran may start again with it: `axion status "
                     f"{cfg.name}` shows them")
    return Result(result.images, [gone, *result.assertions], result.running)


def host_ports(cfg: PackageConfig) -> dict[str, str]:
    """The compose variables of Caddy's host ports."""
    return {"CADDY_HOST_HTTP_PORT": str(cfg.deployment.http_port),
            "CADDY_HOST_HTTPS_PORT": str(cfg.deployment.https_port)}


def write_deploy_files(cfg: PackageConfig, stack: Stack, images: dict[str, str],
                       build: str) -> None:
    """compose.deploy.yaml pinning `images` and deploy.env with the host ports."""
    context = {"package": cfg.name, "project": stack.project, "build": build or "(unknown)"}
    (stack.folder / OVERRIDE_FILE).write_text(
        render(f"deploy/{OVERRIDE_FILE}.j2", images=images, **context), encoding="utf-8")
    (stack.folder / ENV_FILE).write_text(
        render("deploy/deploy.env.j2", http_port=cfg.deployment.http_port,
               https_port=cfg.deployment.https_port, **context), encoding="utf-8")


def bring_up(cfg: PackageConfig, images: dict[str, str], build: str) -> Result:
    """Run the stack with `images` and gate it; a stack that did not come up is a failed
    assertion naming why (a taken port, a service that exits or never gets healthy)."""
    stack = package_stack(cfg)
    write_deploy_files(cfg, stack, images, build)
    timeout = cfg.deployment.gate.timeout
    started = time.monotonic()
    try:
        run_compose(stack, up_line(stack, timeout), timeout=timeout + COMPOSE_MARGIN,
                    own=host_ports(cfg))
    except ComposeError as exc:
        boxes = stack_containers(stack)
        return engine_check(cfg, Result(
            images, [up_failure(cfg, str(exc)), *stuck(boxes, timed_out(str(exc)), stack)],
            running_now(boxes)))
    if time.monotonic() - started >= timeout and (late := ran_out(cfg, stack, images)):
        return late
    deadline = max(started + timeout, time.monotonic() + PROBE_MINIMUM)
    checks = gate_checks(cfg, images, deadline)
    return engine_check(cfg, Result(images, checks, running_now(stack_containers(stack))))


def ran_out(cfg: PackageConfig, stack: Stack, images: dict[str, str]) -> Result | None:
    """After an `up --wait` that took the whole timeout and still exited 0 (compose 2.26
    may when the wait runs out while it sleeps between polls), the timeout failure, as the
    compose that says so gets; None when every container is running and healthy."""
    boxes = stack_containers(stack)
    if not (late := stuck(boxes, True, stack)):
        return None
    said = f"application not healthy after {cfg.deployment.gate.timeout}s (compose exited 0)"
    return engine_check(cfg, Result(images, [up_failure(cfg, said), *late], running_now(boxes)))


def gate_checks(cfg: PackageConfig, images: dict[str, str], deadline: float) -> list[dict]:
    """The gate of a stack that is up: routes through Caddy, the self-test, the digests."""
    base = gate_base(cfg)
    answers = probe_routes(cfg, base, deadline)
    status = read_status(cfg, base, deadline)
    # looked at last: a service that exits at once has had time to show it
    stack = package_stack(cfg)
    boxes = stack_containers(stack)
    return [*route_assertions(cfg, answers), *status_assertion(cfg, status),
            *with_output(container_assertions(images, boxes), boxes, stack.context)]


def with_output(assertions: list[dict], boxes: list[Container],
                context: str = "") -> list[dict]:
    """A failed `<service>: running` assertion with what its container wrote last."""
    names = {f"{b.service}: running": b.name for b in boxes}
    for item in assertions:
        if not item["pass"] and item["name"] in names:
            output = container_logs(names[item["name"]], context=context) or "(none)"
            item["detail"] += f"; last output: {output}"
    return assertions


def up_failure(cfg: PackageConfig, message: str) -> dict:
    """The assertion of a `compose up` that failed, with the fix when the cause is known."""
    deployment = cfg.deployment
    if port_taken(message):
        option, port = next(((o, p) for o, p in (("http_port", deployment.http_port),
                                                 ("https_port", deployment.https_port))
                             if f":{p}" in message), ("http_port", deployment.http_port))
        message = (f"host port {port} ({cfg.path}: deployment.{option}) is taken by another "
                   f"program: free it, or set deployment.{option} (AXION_DEPLOYMENT_"
                   f"{option.upper()}) to a free port. compose said: {message}")
    elif timed_out(message):
        message = (f"not running and healthy within {deployment.gate.timeout} s "
                   f"({cfg.path}: deployment.gate.timeout): {message}")
    return assertion("stack started", False, message)


def timed_out(message: str) -> bool:
    """Whether a failed `up` ran out of time waiting for the services (pure)."""
    return any(w in message.lower() for w in ("not healthy after", "timeout", "did not finish"))


def stuck(boxes: list[Container], waited_out: bool = False,
          stack: Stack | None = None) -> list[dict]:
    """The containers of a failed `up` that stopped, restart or are unhealthy, with their
    last output; one still starting only when the wait ran out."""
    found = []
    late = ("unhealthy", "starting") if waited_out else ("unhealthy",)
    for box in boxes:
        if box.state == "running" and not box.restarts and box.health not in late:
            continue
        health = f", {box.health}" if box.health else ""
        found.append(assertion(
            f"{box.service}: running", False,
            f"{box.name}: {box.state}{health}, exit code {box.exit_code}, restarted "
            f"{box.restarts} time(s); last output: {logs_of(box.name, stack) or '(none)'}"))
    return found


def logs_of(name: str, stack: Stack | None) -> str:
    """A container's last output, on the stack's engine."""
    return container_logs(name, context=stack.context if stack else "")


def running_now(boxes: list[Container]) -> dict[str, str]:
    """Service → image reference of every container that runs."""
    return {b.service: b.image_ref for b in boxes if b.state == "running"}


def bring_down(cfg: PackageConfig) -> str:
    """`compose down` of the package's stack; '' when done, else why not."""
    stack = package_stack(cfg)
    if not (stack.folder / OVERRIDE_FILE).is_file():
        return ""
    try:
        run_compose(stack, down_line(stack), timeout=120, own=host_ports(cfg))
    except ComposeError as exc:
        return str(exc)
    return ""


def still_running(cfg: PackageConfig) -> tuple[dict[str, str] | None, str]:
    """After a `down` that failed: service → image of what still runs, or (None, why that
    is unknown) when the engine cannot be asked."""
    if problem := engine_problem(cfg.deployment.context):
        return None, f"the Docker engine {engine_where(cfg)} cannot be asked ({problem})"
    return running_now(stack_containers(package_stack(cfg))), ""
