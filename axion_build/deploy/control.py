"""`axion start|stop|restart|status <package> [service]`: the deployed compose stack.

They act on what the last deploy (or rollback) ran: the scaffold's compose.yaml with the
pinned images of compose.deploy.yaml and the host ports of deploy.env.
"""

from __future__ import annotations

import sys
from pathlib import Path

from axion_build.adapters.compose import (
    ComposeError,
    Container,
    Stack,
    compose_line,
    run_compose,
    stack_containers,
)
from axion_build.config.model import PackageConfig
from axion_build.deploy.stack import ENV_FILE, OVERRIDE_FILE, package_stack


def control_line(stack: Stack, verb: str, service: str = "") -> list[str]:
    """The compose command of a verb; `restart` of one service leaves the services that
    depend on it (Caddy) running (pure)."""
    names = [service] if service else []
    if verb == "restart":
        return compose_line(stack, "restart", *(["--no-deps"] if service else []), *names)
    return compose_line(stack, verb, *names)


def env_file_values(text: str) -> dict[str, str]:
    """`KEY=value` lines of an env file; comments and blank lines aside (pure)."""
    values = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


def status_lines(containers: list[Container]) -> list[str]:
    """One line per container: service, state, health, restarts, image (pure)."""
    lines = [f"{'service':14} {'state':11} {'health':10} {'restarts':>8}  image"]
    for box in containers:
        lines.append(f"{box.service:14} {box.state:11} {box.health or '-':10} "
                     f"{box.restarts:>8}  {box.image_ref}")
    return lines


def stack_problem(cfg: PackageConfig, service: str) -> str:
    """Why the verbs cannot act on the package's stack ('' when they can)."""
    stack = package_stack(cfg)
    if not (stack.folder / OVERRIDE_FILE).is_file():
        return (f"{cfg.name} is not deployed here (no {stack.folder / OVERRIDE_FILE}): run "
                f"`doit deploy:{cfg.name}` with deployment.target: local ({cfg.path})")
    known = [s.name for s in cfg.services] + ["caddy"]
    if service and service not in known:
        return (f"{cfg.path}: no service {service!r} in {cfg.name} (have: "
                f"{', '.join(known)})")
    return ""


def stack_command(verb: str, cfg: PackageConfig, service: str = "") -> int:
    """Run one verb on the package's deployed stack (compose or supervisor); the exit
    status."""
    substrate = cfg.deployment.substrate
    if substrate == "k3s":
        print(f"axion {verb}: {cfg.name} deploys to k3s, whose chart is only rendered and "
              f"linted here (no cluster): use kubectl or helm on the cluster", file=sys.stderr)
        return 2
    if substrate == "supervisor":
        from axion_build.deploy.programs import program_command

        return program_command(verb, cfg, service)
    if problem := stack_problem(cfg, service):
        print(f"axion {verb}: {problem}", file=sys.stderr)
        return 2
    stack = package_stack(cfg)
    if verb == "status":
        boxes = [b for b in stack_containers(stack) if not service or b.service == service]
        print(f"{stack.project} ({stack.folder}):")
        print("\n".join(status_lines(boxes)) if boxes else "  no containers (not running)")
        return 0 if boxes and all(b.state == "running" for b in boxes) else 1
    own = env_file_values(Path(stack.folder / ENV_FILE).read_text(encoding="utf-8"))
    try:
        run_compose(stack, control_line(stack, verb, service), timeout=300, own=own)
    except ComposeError as exc:
        print(f"axion {verb}: {stack.project}: {exc}", file=sys.stderr)
        return 1
    print(f"{verb}: {stack.project} {service or '(every service)'}: done")
    return 0
