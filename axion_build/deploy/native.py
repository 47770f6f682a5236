"""One deployment on the supervisor substrate: the compiled app tree under supervisord and
Caddy on this host, gated through Caddy.

Each deployment runs its own copy of the compiled app tree (`releases/<build>`), so a
later build cannot change what runs and a failed gate can go back to the last good copy.
Its supervisord.conf and Caddyfile (rendered by the scaffold's own renderer, with this
copy and the deployment's ports) sit in `live/` under the supervisor scaffold, with their
own socket, pid file and logs: never the system's supervisord.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from pathlib import Path

from axion_build.adapters.fs import write_files
from axion_build.adapters.supervisor import (
    Program,
    SupervisorError,
    daemon_pid,
    log_tail,
    programs,
    start_daemon,
    stop_daemon,
)
from axion_build.config.model import PackageConfig
from axion_build.deploy.errors import DeployError
from axion_build.deploy.gate import (
    assertion,
    probe_routes,
    read_status,
    route_assertions,
    status_assertion,
)
from axion_build.deploy.scaffold import (
    ScaffoldOptions,
    compiled_app_dir,
    deploy_dir,
    prepare_home,
    render_supervisor,
    resolve_options,
)
from axion_build.deploy.stack import PROBE_MINIMUM, Result

APP_TREE = "app_tree"  # the key of a supervisor deployment's "digests": the copy it ran
CADDY_PROGRAM = "caddy"
SETTLED = ("RUNNING", "FATAL", "EXITED", "STOPPED")  # supervisord is done starting these
DIGEST_SKIPPED = ("skipped: does not apply to the supervisor substrate, which runs the "
                  "compiled app tree natively (no image)")


def live_dir(cfg: PackageConfig) -> Path:
    """The folder of the running deployment: supervisord.conf, Caddyfile, socket, logs."""
    return (deploy_dir(cfg, "supervisor") / "live").resolve()


def live_conf(cfg: PackageConfig) -> Path:
    """The deployed supervisord.conf the stack verbs use."""
    return live_dir(cfg) / "supervisord.conf"


def releases_dir(cfg: PackageConfig) -> Path:
    """Where the copies of the compiled app tree that deployments ran are kept."""
    return (deploy_dir(cfg, "supervisor") / "releases").resolve()


def group_name(cfg: PackageConfig) -> str:
    """The supervisord group of the package's programs (as the scaffold names it)."""
    return f"axion-{cfg.name}"


def program_names(cfg: PackageConfig) -> list[str]:
    """Every program a supervisor deployment runs: each service, and Caddy."""
    return [*(s.name for s in cfg.services), CADDY_PROGRAM]


def release_tree(cfg: PackageConfig, build: str) -> dict[str, str]:
    """Copy this build's compiled app tree to `releases/<build>`; DeployError without one."""
    tree = compiled_app_dir(cfg)
    if tree == cfg.app_root or not tree.is_dir():
        raise DeployError(f"no compiled app tree of {cfg.name} at {tree}: run "
                          f"`doit image:{cfg.name}:context` (or the pipeline) first")
    release = releases_dir(cfg) / (build or "unknown")
    if release.exists():
        shutil.rmtree(release)
    release.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(tree, release, symlinks=True)
    return {APP_TREE: str(release)}


def prune_releases(cfg: PackageConfig, keep: set[str]) -> None:
    """Remove the copies no deployment can go back to (all but `keep`)."""
    folder = releases_dir(cfg)
    for release in folder.iterdir() if folder.is_dir() else ():
        if str(release) not in keep:
            shutil.rmtree(release, ignore_errors=True)


def taken_ports(ports: dict[str, int]) -> dict[str, int]:
    """Of option → port, those something on this host listens on already."""
    taken = {}
    for option, port in ports.items():
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("0.0.0.0", port))
            except OSError:
                taken[option] = port
    return taken


def wanted_ports(cfg: PackageConfig) -> dict[str, int]:
    """Config option → host port a supervisor deployment listens on (pure)."""
    ports = {"deployment.http_port": cfg.deployment.http_port,
             "deployment.https_port": cfg.deployment.https_port}
    ports.update({f"services.{s.name}.port": s.port for s in cfg.services if s.port})
    return ports


def port_assertions(cfg: PackageConfig, taken: dict[str, int]) -> list[dict]:
    """The failed `stack started` of ports another program holds, with the fix (pure)."""
    return [assertion("stack started", False,
                      f"host port {port} ({cfg.path}: {option}) is taken by another program: "
                      f"free it, or set {option} (AXION_{option.replace('.', '_').upper()}) "
                      "to a free port")
            for option, port in taken.items()]


def write_live(cfg: PackageConfig, release: Path) -> Path:
    """supervisord.conf and Caddyfile running `release` on the deployment's ports."""
    folder = live_dir(cfg)
    options = resolve_options(cfg, ScaffoldOptions(
        http_port=cfg.deployment.http_port, https_port=cfg.deployment.https_port,
        app_dir=release))
    write_files(folder, render_supervisor(cfg, options))
    (folder / "logs").mkdir(parents=True, exist_ok=True)
    prepare_home(cfg, folder)
    return folder / "supervisord.conf"


def program_assertions(cfg: PackageConfig, conf: Path, found: list[Program]) -> list[dict]:
    """Each program runs (with its last output when not), and the digest check skipped."""
    seen = {p.name: p for p in found}
    checks = []
    for name in program_names(cfg):
        program = seen.get(name)
        ok = program is not None and program.state == "RUNNING"
        detail = f"{program.state} {program.description}".strip() if program else "no program"
        if not ok:
            detail += f"; last output: {log_tail(conf, name) or '(none)'}"
        checks.append(assertion(f"{name}: running", ok, detail))
        checks.append({**assertion(f"{name}: runs the built digest", True, DIGEST_SKIPPED),
                       "skipped": True})
    return checks


def settled(conf: Path, deadline: float) -> list[Program]:
    """The programs once none is starting or backing off (supervisord gives up on one that
    keeps exiting: FATAL), or as they are at the monotonic `deadline`."""
    while True:
        found = programs(conf)
        if found and all(p.state in SETTLED for p in found) or time.monotonic() >= deadline:
            return found
        time.sleep(0.5)


def running_programs(found: list[Program], release: str) -> dict[str, str]:
    """Program → the app tree it runs, for those that run (pure)."""
    return {p.name: release for p in found if p.state == "RUNNING"}


def bring_up(cfg: PackageConfig, images: dict[str, str], build: str) -> Result:
    """Run the app tree copy of `images` under a fresh supervisord and gate it."""
    release = images[APP_TREE]
    conf = live_conf(cfg)
    try:
        stop_daemon(conf)  # the deployment before this one
    except SupervisorError as exc:
        return Result(images, [assertion("stack started", False, str(exc))])
    if taken := port_assertions(cfg, taken_ports(wanted_ports(cfg))):
        return Result(images, taken)
    if not Path(release).is_dir():
        return Result(images, [assertion("stack started", False,
                                         f"the app tree copy {release} is gone")])
    conf = write_live(cfg, Path(release))
    started = time.monotonic()
    try:
        start_daemon(conf, os.environ)
    except SupervisorError as exc:
        return Result(images, [assertion("stack started", False, str(exc))])
    deadline = max(started + cfg.deployment.gate.timeout, time.monotonic() + PROBE_MINIMUM)
    base = f"http://127.0.0.1:{cfg.deployment.http_port}"
    answers = probe_routes(cfg, base, deadline)
    status = read_status(cfg, base, deadline)
    found = settled(conf, deadline)  # last: a program that exits at once has shown it
    checks = [*route_assertions(cfg, answers), *status_assertion(cfg, status),
              *program_assertions(cfg, conf, found)]
    return Result(images, checks, running_programs(found, release))


def bring_down(cfg: PackageConfig) -> str:
    """Stop the package's supervisord and its programs; '' when done, else why not."""
    try:
        stop_daemon(live_conf(cfg))
    except SupervisorError as exc:
        return str(exc)
    return ""


def still_running(cfg: PackageConfig) -> tuple[dict[str, str] | None, str]:
    """After a stop that failed: program → what it runs, or (None, why that is unknown)."""
    conf = live_conf(cfg)
    found = programs(conf)  # [] also when supervisord does not answer
    if not found and (pid := daemon_pid(conf)):
        return None, f"supervisord (pid {pid}) of {conf} does not answer"
    return {p.name: p.description for p in found if p.state == "RUNNING"}, ""
