"""The Docker engine: the only module that talks to it (python-on-whales and the CLI).

Command lines are plain lists; every function runs one engine operation. Questions
asked on every run (does this image exist, its labels) go through one plain CLI call;
python-on-whales, slow to import, is loaded only to build and import images.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections import deque
from pathlib import Path


class DockerError(Exception):
    """A docker command failed; the message carries its output."""


class EngineUnreachable(DockerError):
    """No Docker engine answers where the docker CLI is pointed."""


DEFAULT_ENGINE = "unix:///var/run/docker.sock"
# the endpoint of the remote builder the run's DOCKER_CONTEXT names, inherited by workers
REMOTE_ENDPOINT = "AXION_REMOTE_ENGINE"
_READY_CONTEXTS: dict[str, str] = {}
# what the docker CLI says when it reaches no engine (not: the engine has no such image)
UNREACHABLE_WORDS = ("Cannot connect to the Docker daemon", "error during connect",
                     "permission denied while trying to connect to the Docker daemon")


def engine_address() -> str:
    """Where the docker CLI sends its calls: DOCKER_HOST, a named context, or the default."""
    if host := os.environ.get("DOCKER_HOST"):
        return host
    if context := os.environ.get("DOCKER_CONTEXT"):
        return f"docker context {context}"
    return DEFAULT_ENGINE


def unreachable(detail: str) -> EngineUnreachable:
    """The error of an engine that does not answer: its address, why, and the fix."""
    address = engine_address()
    variable = "DOCKER_CONTEXT" if address.startswith("docker context") else "DOCKER_HOST"
    return EngineUnreachable(
        f"no Docker engine answers at {address} ({detail.strip()}): start the engine, or "
        f"point {variable} at one that runs (unset it for {DEFAULT_ENGINE}); "
        "check with 'docker info'")


def engine_problem(timeout: float = 3.0) -> str:
    """Why the engine cannot be reached ('' when it can or a quick look cannot tell).

    A connect to its socket costs well under a millisecond, so every run that needs the
    engine asks before its first task; engines behind contexts or ssh are found out by
    their first real call (`image_facts`).
    """
    import socket

    address = os.environ.get("DOCKER_HOST") or (
        "" if os.environ.get("DOCKER_CONTEXT") else DEFAULT_ENGINE)
    scheme, _, rest = address.partition("://")
    try:
        if scheme == "unix":
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(timeout)
                sock.connect(rest)
        elif scheme == "tcp":
            host, _, port = rest.rstrip("/").rpartition(":")
            socket.create_connection((host.strip("[]"), int(port)), timeout).close()
    except (OSError, ValueError) as exc:
        return str(unreachable(f"{type(exc).__name__}: {exc}"))
    return ""


def engine_available() -> bool:
    """Whether a Docker engine answers."""
    try:
        return docker_cli(["info", "--format", "{{.ID}}"], check=False).returncode == 0
    except FileNotFoundError:
        return False


def image_exists(tag: str) -> bool:
    """Whether the engine holds `tag`."""
    return image_facts([tag])[tag] is not None


def image_id(tag: str) -> str:
    """The image id of `tag`."""
    facts = image_facts([tag])[tag]
    if facts is None:
        raise DockerError(f"no image {tag}")
    return facts["id"]


def image_size(tag: str) -> int:
    """Size in bytes of `tag`."""
    return inspect_image(tag).get("Size", 0)


def image_labels(tag: str) -> dict[str, str]:
    """Labels of `tag`, empty when it is missing."""
    facts = image_facts([tag])[tag]
    return dict(facts["labels"]) if facts else {}


def tag_image(source: str, tag: str) -> None:
    """Give the image `source` the tag `tag` too."""
    docker_cli(["tag", source, tag])


def remove_image(tag: str) -> None:
    """Remove `tag` if present."""
    docker_cli(["image", "rm", "--force", tag], check=False)


def engine_info() -> dict:
    """The engine's `docker info` record ({} when it does not answer), once per engine."""
    key = engine_address()
    if key not in _INFO:
        done = docker_cli(["info", "--format", "{{json .}}"], check=False)
        try:
            _INFO[key] = json.loads(done.stdout)
        except ValueError:
            _INFO[key] = {}
    return _INFO[key]


_INFO: dict[str, dict] = {}


def build_image(context: Path, dockerfile: Path, *, target: str | None, tags: list[str],
                build_args: dict[str, str], labels: dict[str, str], platform: str | None = None,
                load: bool = True, push: bool = False, builder: str | None = None,
                cache: bool = True, cache_from: list[str] | None = None,
                inline_cache: bool = False, source_date_epoch: int | None = None) -> None:
    """Build one target with buildx; loaded into the engine (or pushed).

    `cache_from`: images (in a registry) whose inline build cache may serve unchanged
    layers; `inline_cache`: embed this build's cache in the image for others.
    `source_date_epoch`: build reproducibly (on an engine that can: `build.reproducible`):
    every timestamp, of the image and of each file in its layers, becomes that time, and
    no provenance record (which holds the build's own time) is attached; the image is
    exported as an archive and loaded, so each layer is stored as it was rewritten.
    BuildKit's progress is kept, not printed (parallel builds stay readable); a failure
    carries its last lines.
    """
    from python_on_whales import DockerException, docker

    ensure_remote_context()
    progress: deque[str] = deque(maxlen=60)
    options: dict = {"load": load and not push, "push": push}
    archive = None
    if source_date_epoch is not None and load and not push:
        archive = context.with_name(f"{context.name}-{os.getpid()}-{target or 'image'}.tar")
        options = {"output": {"type": "docker", "name": tags[0], "dest": str(archive),
                              "rewrite-timestamp": "true"}, "provenance": False}
        build_args = {**build_args, "SOURCE_DATE_EPOCH": str(source_date_epoch)}
    try:
        for line in docker.buildx.build(
                context, file=dockerfile, target=target, tags=tags, build_args=build_args,
                labels=labels, platforms=[platform] if platform else None,
                builder=builder, cache=cache,
                cache_from=[{"type": "registry", "ref": ref} for ref in cache_from or ()] or None,
                cache_to={"type": "inline"} if inline_cache else None,
                progress="plain", stream_logs=True, **options):
            progress.append(line.rstrip())
        if archive is not None:
            docker_cli(["image", "load", "--quiet", "--input", str(archive)])
            for extra in tags[1:]:
                tag_image(tags[0], extra)
    except DockerException as exc:
        detail = "\n".join(progress) or tail(exc)
        raise DockerError(f"build of {', '.join(tags)} failed:\n{detail}") from exc
    finally:
        if archive is not None:
            archive.unlink(missing_ok=True)


def tail(exc, lines: int = 40) -> str:
    """The last lines of a failed command's output."""
    text = "\n".join(filter(None, [exc.stdout or "", exc.stderr or ""]))
    return "\n".join(text.strip().splitlines()[-lines:])


def import_rootfs(tar_path: Path, tag: str, changes: list[str]) -> None:
    """`docker import` a root filesystem tarball as `tag`."""
    from python_on_whales import DockerException, docker

    ensure_remote_context()
    try:
        docker.import_(tar_path, tag=tag, changes=changes)
    except DockerException as exc:
        raise DockerError(f"import of {tar_path} as {tag} failed:\n{tail(exc)}") from exc


# --- batched inspection, metadata, containers for the compile step ---------------------


def docker_cli(args: list[str], *, input_text: str | None = None,
               check: bool = True) -> subprocess.CompletedProcess:
    """Run one `docker` CLI command, output captured."""
    ensure_remote_context()
    done = subprocess.run(["docker", *args], capture_output=True, text=True, input=input_text)
    if check and done.returncode != 0:
        raise DockerError(f"docker {args[0]} failed: {(done.stderr or done.stdout).strip()}")
    return done


def image_facts(tags: list[str]) -> dict[str, dict | None]:
    """Id, labels and size of each tag in one engine call; None for a missing tag."""
    facts: dict[str, dict | None] = {tag: None for tag in tags}
    if not tags:
        return facts
    done = docker_cli(["image", "inspect", "--format", "{{json .}}", *tags], check=False)
    if done.returncode != 0 and any(w in done.stderr for w in UNREACHABLE_WORDS):
        # a missing engine is not a missing image (that would start a bootstrap)
        raise unreachable(done.stderr.strip().splitlines()[0])
    for line in filter(str.strip, done.stdout.splitlines()):
        data = json.loads(line)
        item = {"id": data["Id"], "labels": (data.get("Config") or {}).get("Labels") or {},
                "size": data.get("Size", 0)}
        for tag in data.get("RepoTags") or []:
            if tag in facts:
                facts[tag] = item
    return facts


def inspect_image(tag: str) -> dict:
    """The engine's full inspect record of an image."""
    return json.loads(docker_cli(["image", "inspect", tag]).stdout)[0]


def image_history(tag: str) -> list[str]:
    """The command of every history step of an image, oldest first."""
    done = docker_cli(["history", "--no-trunc", "--format", "{{.CreatedBy}}", tag])
    return list(reversed(done.stdout.splitlines()))


def save_image(tag: str, archive: Path) -> None:
    """Export an image with `docker save`."""
    docker_cli(["save", "-o", str(archive), tag])


def run_output(image: str, command: list[str], *, platform: str | None = None) -> str:
    """Run a throwaway container and return its standard output."""
    args = ["run", "--rm", "--network", "none"]
    if platform:
        args += ["--platform", platform]
    return docker_cli([*args, image, *command]).stdout


def use_remote_engine(context: str, endpoint: str) -> None:
    """Send every engine call of this process (and its children) to `endpoint`.

    Only the environment is set here: task creators call this, and `doit list` must not
    reach any engine. The docker context is made (or checked) by the first engine call.
    """
    os.environ["DOCKER_CONTEXT"] = context
    os.environ[REMOTE_ENDPOINT] = endpoint


def ensure_remote_context() -> None:
    """Make the docker context `use_remote_engine` named, once per process, before a call.

    A docker context named after the builder is made for the endpoint (`ssh://user@host`)
    when missing; buildx then builds on that engine with its own (docker) driver.
    """
    endpoint = os.environ.get(REMOTE_ENDPOINT, "")
    context = os.environ.get("DOCKER_CONTEXT", "")
    if not endpoint or not context or _READY_CONTEXTS.get(context) == endpoint:
        return
    # the CLI refuses to start while DOCKER_CONTEXT names a context that does not exist yet
    env = {k: v for k, v in os.environ.items() if k != "DOCKER_CONTEXT"}
    found = subprocess.run(["docker", "context", "inspect", context], capture_output=True,
                           text=True, env=env)
    if found.returncode != 0:
        made = subprocess.run(["docker", "context", "create", context, "--description",
                               "Axion Build remote builder", "--docker", f"host={endpoint}"],
                              capture_output=True, text=True, env=env)
        if made.returncode != 0 and "already exists" not in made.stderr:
            raise DockerError(f"docker context create failed: {made.stderr.strip()}")
    else:
        host = json.loads(found.stdout)[0]["Endpoints"]["docker"]["Host"]
        if host != endpoint:
            raise DockerError(f"docker context {context} points at {host}, not {endpoint}: "
                              f"remove it (docker context rm {context}) or fix "
                              "deployment.buildx.endpoint")
    _READY_CONTEXTS[context] = endpoint
