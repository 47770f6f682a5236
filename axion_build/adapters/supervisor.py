"""supervisord and supervisorctl on a deploy folder's own config: the only module that runs them.

Command lines are plain lists (`ctl_line`, pure) and `supervisorctl status` output is
parsed by a pure function; the daemon always runs on the folder's own socket and pid
file, never the system's.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# supervisorctl exit status 3: some program is not running (status still printed)
STATUS_NOT_ALL_RUNNING = 3


class SupervisorError(Exception):
    """supervisord did not start or stop, or supervisorctl failed; the message says why."""


@dataclass(frozen=True)
class Program:
    """One program as `supervisorctl status` shows it."""

    name: str  # without the group, e.g. `web`
    state: str  # RUNNING, STARTING, BACKOFF, FATAL, EXITED, STOPPED, …
    description: str  # `pid 12, uptime 0:00:05`, `Exited too quickly (process log …)`


def ctl_line(conf: Path, *args: str) -> list[str]:
    """`supervisorctl -c CONF <args>` (pure)."""
    return ["supervisorctl", "-c", str(conf), *args]


def program_target(group: str, program: str = "") -> str:
    """supervisorctl's name of one program of the group, or of all of them (pure)."""
    return f"{group}:{program}" if program else f"{group}:*"


def parse_status(text: str) -> list[Program]:
    """Programs of `supervisorctl status` output (pure); other lines are skipped."""
    found = []
    for line in text.splitlines():
        parts = line.split(None, 2)
        if len(parts) < 2 or not parts[1].isupper():
            continue
        name = parts[0].split(":", 1)[-1]
        found.append(Program(name, parts[1], parts[2].strip() if len(parts) > 2 else ""))
    return found


def run_ctl(conf: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """One supervisorctl command; SupervisorError when supervisord does not answer."""
    try:
        done = subprocess.run(ctl_line(conf, *args), capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise SupervisorError(f"supervisorctl {' '.join(args)} did not finish in "
                              f"{timeout:.0f} s") from exc
    out = (done.stdout + done.stderr).strip()
    if "refused connection" in out or "no such file" in out.lower():
        raise SupervisorError(f"supervisord of {conf} is not running: {out}")
    return done


def programs(conf: Path) -> list[Program]:
    """Every program of the folder's supervisord ([] when it is not running)."""
    try:
        return parse_status(run_ctl(conf, "status", timeout=60).stdout)
    except SupervisorError:
        return []


def daemon_pid(conf: Path) -> int:
    """The pid of the folder's supervisord from its pid file, 0 when it does not run."""
    try:
        pid = int((conf.parent / "supervisord.pid").read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return 0
    return pid


def start_daemon(conf: Path, environ: Mapping[str, str]) -> None:
    """Start supervisord on `conf` in the background (it starts every program)."""
    done = subprocess.run(["supervisord", "-c", str(conf)], capture_output=True, text=True,
                          env=dict(environ), cwd=conf.parent, timeout=60)
    if done.returncode != 0:
        raise SupervisorError(f"supervisord -c {conf} failed: "
                              f"{(done.stderr or done.stdout).strip()}")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if daemon_pid(conf) and (conf.parent / "supervisor.sock").exists():
            return
        time.sleep(0.2)
    raise SupervisorError(f"supervisord -c {conf} wrote no pid file or socket in 20 s; see "
                          f"{conf.parent / 'logs' / 'supervisord.log'}")


def stop_daemon(conf: Path, timeout: float = 60) -> None:
    """Stop the folder's supervisord and every program; nothing when it does not run."""
    pid = daemon_pid(conf)
    if not pid:
        return
    os.kill(pid, 15)  # supervisord stops its programs (stopasgroup) on SIGTERM
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not daemon_pid(conf):
            return
        time.sleep(0.2)
    raise SupervisorError(f"supervisord (pid {pid}) of {conf} did not stop in {timeout:.0f} s")


def log_tail(conf: Path, program: str, lines: int = 15) -> str:
    """The last lines a program wrote to its log in the folder, for an error message."""
    path = conf.parent / "logs" / f"{program}.log"
    if not path.is_file():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]).strip()
