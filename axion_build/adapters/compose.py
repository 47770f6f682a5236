"""docker compose on the local engine: the only module that runs it.

Command lines are plain lists (`compose_line`, pure); `run_compose` runs one, and the
container questions the gate asks (state, image, digests) are one `docker inspect` each.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# what compose or the engine says when a host port is held by something else
PORT_TAKEN_WORDS = ("port is already allocated", "address already in use")
# compose's progress lines (` Container x-web-1  Started`), which say nothing of a failure
PROGRESS = re.compile(r"^\s*(Container|Network|Volume) \S+\s+(Recreated?|Creat(e|ed|ing)|"
                      r"Start(ed|ing)|Waiting|Healthy|Running|Stopp(ed|ing)|Remov(ed|ing))\s*$")


# compose's pull progress (`9daf045260a9 Extracting [==>  ] 1MB/17MB`, `web Pulled`)
PULL_PROGRESS = re.compile(r"^\s*\S+\s+(Pulling fs layer|Waiting|Downloading|Verifying "
                           r"Checksum|Download complete|Extracting|Pull complete|Already "
                           r"exists|Pulled|Pulling|Skipped)\b")
# what an engine that is stopping or gone makes a docker or compose call say
ENGINE_FAILURE_WORDS = ("Cannot connect to the Docker daemon", "error during connect",
                        "database not open", "daemon is shutting down",
                        "connection reset by peer")


class ComposeError(Exception):
    """A compose command failed or ran out of time; the message carries its output."""


@dataclass(frozen=True)
class Stack:
    """One compose project: its folder, files, env file and project name."""

    folder: Path
    project: str
    files: tuple[str, ...]
    env_file: str = ""
    context: str = ""  # the docker context of a remote engine; '' for the environment's


@dataclass(frozen=True)
class Container:
    """What the engine says of one container of a stack."""

    name: str
    service: str
    state: str  # running, exited, restarting, created, …
    health: str  # healthy, unhealthy, starting, or '' without a healthcheck
    exit_code: int
    restarts: int
    started: str  # State.StartedAt
    image_ref: str  # Config.Image: the reference it was created from
    image_id: str
    repo_digests: tuple[str, ...] = ()


def docker_line(context: str, *args: str) -> list[str]:
    """`docker [--context C] <args>` (pure)."""
    return ["docker", *(["--context", context] if context else []), *args]


def compose_line(stack: Stack, *args: str) -> list[str]:
    """`docker [--context C] compose -p P -f … [--env-file E] <args>` (pure)."""
    line = docker_line(stack.context, "compose", "-p", stack.project)
    for name in stack.files:
        line += ["-f", name]
    if stack.env_file:
        line += ["--env-file", stack.env_file]
    return [*line, *args]


def up_line(stack: Stack, timeout: int) -> list[str]:
    """Create or update every service and wait until each runs (and is healthy)."""
    return compose_line(stack, "up", "-d", "--wait", "--wait-timeout", str(timeout),
                        "--remove-orphans", "--pull", "missing")


def down_line(stack: Stack) -> list[str]:
    """Remove the stack's containers and networks (volumes, the documents, stay)."""
    return compose_line(stack, "down", "--remove-orphans", "--timeout", "10")


def compose_environ(environ: Mapping[str, str], own: Mapping[str, str]) -> dict[str, str]:
    """The environment of a compose call: the caller's, with the deploy's own values
    winning (compose lets the shell win over an env file)."""
    return {**{k: v for k, v in environ.items() if k not in own}, **own}


def run_compose(stack: Stack, line: list[str], *, timeout: float,
                own: Mapping[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run one compose command in the stack's folder; ComposeError on failure or timeout."""
    env = compose_environ(os.environ, own or {})
    try:
        done = subprocess.run(line, cwd=stack.folder, capture_output=True, text=True,
                              env=env, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise ComposeError(f"{' '.join(line[1:4])} … {line[-1]} did not finish in "
                           f"{timeout:.0f} s") from exc
    if done.returncode != 0:
        raise ComposeError(failure_text(done.stderr or done.stdout) or f"exit {done.returncode}")
    return done


def failure_text(output: str) -> str:
    """What a failed compose command said, without its progress lines (pure)."""
    return "\n".join(line for line in output.strip().splitlines()
                     if line.strip() and not PROGRESS.match(line)
                     and not PULL_PROGRESS.match(line))


def stack_containers(stack: Stack) -> list[Container]:
    """Every container of the stack, running or not, with its image's digests."""
    done = subprocess.run(docker_line(stack.context, "ps", "-aq", "--filter",
                                      f"label=com.docker.compose.project={stack.project}"),
                          capture_output=True, text=True, timeout=60)
    ids = done.stdout.split()
    if not ids:
        return []
    raw = json.loads(subprocess.run(docker_line(stack.context, "inspect", *ids),
                                    capture_output=True, text=True, timeout=60).stdout or "[]")
    images = image_digests(sorted({c["Image"] for c in raw}), stack.context)
    return sorted((to_container(c, images) for c in raw), key=lambda c: c.service)


def image_digests(image_ids: list[str], context: str = "") -> dict[str, tuple[str, ...]]:
    """RepoDigests of each image id (empty for an image without any)."""
    if not image_ids:
        return {}
    done = subprocess.run(docker_line(context, "image", "inspect", *image_ids),
                          capture_output=True, text=True, timeout=60)
    return {i["Id"]: tuple(i.get("RepoDigests") or ()) for i in json.loads(done.stdout or "[]")}


def to_container(raw: Mapping, images: Mapping[str, tuple[str, ...]]) -> Container:
    """A Container from one `docker inspect` record (pure)."""
    state = raw.get("State") or {}
    labels = (raw.get("Config") or {}).get("Labels") or {}
    return Container(name=raw.get("Name", "").lstrip("/"),
                     service=labels.get("com.docker.compose.service", ""),
                     state=state.get("Status", ""),
                     health=(state.get("Health") or {}).get("Status", ""),
                     exit_code=int(state.get("ExitCode") or 0),
                     restarts=int(raw.get("RestartCount") or 0),
                     started=state.get("StartedAt", ""),
                     image_ref=(raw.get("Config") or {}).get("Image", ""),
                     image_id=raw.get("Image", ""),
                     repo_digests=images.get(raw.get("Image", ""), ()))


def container_logs(name: str, lines: int = 15, context: str = "") -> str:
    """The last lines a container wrote, for an error message."""
    done = subprocess.run(docker_line(context, "logs", "--tail", str(lines), name),
                          capture_output=True, text=True, timeout=60)
    return (done.stdout + done.stderr).strip()


def engine_problem(context: str = "") -> str:
    """Why the engine (of `context`) does not answer `docker version`; '' when it does."""
    try:
        done = subprocess.run(docker_line(context, "version", "--format",
                                          "{{.Server.Version}}"),
                              capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return "docker version did not answer in 20 s"
    return "" if done.returncode == 0 and done.stdout.strip() else (
        (done.stderr or done.stdout).strip() or f"exit {done.returncode}")


def engine_failure(text: str) -> str:
    """The first line of `text` that says the engine stopped or is gone ('' if none; pure)."""
    return next((line.strip() for line in text.splitlines()
                 if any(word in line for word in ENGINE_FAILURE_WORDS)), "")


def context_host(endpoint: str) -> str:
    """The host a context's published ports are on: its endpoint's host, loopback for a
    local socket (pure). `ssh://user@host:22` → host, `tcp://h:2376` → h."""
    scheme, _, rest = endpoint.partition("://")
    if scheme in ("", "unix", "npipe", "fd"):
        return "127.0.0.1"
    host = rest.split("/", 1)[0].rsplit("@", 1)[-1]
    if host.startswith("["):
        return host[1:host.index("]")]
    return host.rsplit(":", 1)[0] if ":" in host else host


def context_endpoint(context: str) -> str:
    """The engine endpoint a docker context names ('' when it names none)."""
    done = subprocess.run(["docker", "context", "inspect", context, "--format",
                           "{{.Endpoints.docker.Host}}"], capture_output=True, text=True,
                          timeout=30)
    return done.stdout.strip() if done.returncode == 0 else ""


def port_taken(message: str) -> bool:
    """Whether a compose error says a host port is held by something else (pure)."""
    return any(word in message for word in PORT_TAKEN_WORDS)
