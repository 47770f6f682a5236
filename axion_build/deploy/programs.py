"""`axion start|stop|restart|status <package> [service]` on the supervisor substrate:
supervisorctl on the deployed supervisord.conf (its own socket), one program or all."""

from __future__ import annotations

import sys

from axion_build.adapters.supervisor import Program, SupervisorError, program_target, run_ctl
from axion_build.adapters.supervisor import programs as read_programs
from axion_build.config.model import PackageConfig
from axion_build.deploy.native import group_name, live_conf, program_names


def program_problem(cfg: PackageConfig, service: str) -> str:
    """Why the verbs cannot act on the package's supervisord ('' when they can)."""
    conf = live_conf(cfg)
    if not conf.is_file():
        return (f"{cfg.name} is not deployed here (no {conf}): run `doit deploy:{cfg.name}` "
                f"with deployment.target: local, deployment.substrate: supervisor ({cfg.path})")
    known = program_names(cfg)
    if service and service not in known:
        return f"{cfg.path}: no service {service!r} in {cfg.name} (have: {', '.join(known)})"
    return ""


def ctl_args(cfg: PackageConfig, verb: str, service: str = "") -> list[str]:
    """supervisorctl's arguments of a verb on one program or the package's group (pure)."""
    return [verb, program_target(group_name(cfg), service)]


def program_lines(found: list[Program]) -> list[str]:
    """One line per program: name, state, what supervisord says of it (pure)."""
    return [f"{'service':14} {'state':11} detail",
            *(f"{p.name:14} {p.state:11} {p.description}" for p in found)]


def program_command(verb: str, cfg: PackageConfig, service: str = "") -> int:
    """Run one verb on the package's deployed supervisord; the exit status."""
    if problem := program_problem(cfg, service):
        print(f"axion {verb}: {problem}", file=sys.stderr)
        return 2
    conf = live_conf(cfg)
    if verb == "status":
        found = [p for p in read_programs(conf) if not service or p.name == service]
        print(f"{group_name(cfg)} ({conf}):")
        print("\n".join(program_lines(found)) if found else "  supervisord is not running")
        return 0 if found and all(p.state == "RUNNING" for p in found) else 1
    try:
        done = run_ctl(conf, *ctl_args(cfg, verb, service), timeout=300)
    except SupervisorError as exc:
        print(f"axion {verb}: {exc} (run `doit deploy:{cfg.name}` to start it)",
              file=sys.stderr)
        return 1
    out = (done.stdout + done.stderr).strip()
    if "ERROR" in out:
        print(f"axion {verb}: {group_name(cfg)}: {out}", file=sys.stderr)
        return 1
    print(f"{verb}: {group_name(cfg)} {service or '(every service)'}: done")
    return 0
