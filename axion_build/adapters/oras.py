"""OCI artifacts written to a registry with the `oras` CLI (the ORAS project's client).

Only writes go through it: it uploads each blob once, checks what it sent against the
digests and pushes the manifest last, so a reader never sees half an artifact. Reads
are plain GETs of the registry API (adapters/registry.py), made concurrently and checked
against their digests by the reader.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from axion_build.paths import cache_root

INSTALL_HINT = ("install it with 'sudo ./run provision pipeline' (trixie's oras package), "
                "or put an oras binary on PATH")


class OrasError(Exception):
    """The artifact could not be written; the message says why."""


def oras_binary() -> str:
    """The oras CLI: on PATH, else the one provisioned into the machine's cache ('')."""
    found = shutil.which("oras")
    if found:
        return found
    provisioned = cache_root() / "bin" / "oras"
    return str(provisioned) if os.access(provisioned, os.X_OK) else ""


def push_artifact(ref: str, folder: Path, files: list[tuple[str, str]], artifact_type: str,
                  annotations: dict[str, str], *, plain_http: bool, username: str = "",
                  password: str = "", timeout: float = 60.0) -> str:
    """Push `files` (name in `folder`, media type) as one artifact at `ref`; its digest.

    The password goes through stdin, never the command line.
    """
    binary = oras_binary()
    if not binary:
        raise OrasError(f"no oras CLI: {INSTALL_HINT}")
    command = [binary, "push", "--no-tty", "--artifact-type", artifact_type,
               "--disable-path-validation"]
    if plain_http:
        command.append("--plain-http")
    if username:
        command += ["--username", username, "--password-stdin"]
    for key, value in sorted(annotations.items()):
        command += ["--annotation", f"{key}={value}"]
    command += [ref, *(f"{name}:{media}" for name, media in files)]
    # its own config file: no docker credential helper is asked, nothing of ours is saved
    env = {**os.environ, "DOCKER_CONFIG": str(folder / ".oras-config")}
    try:
        done = subprocess.run(command, cwd=folder, input=password if username else None,
                              capture_output=True, text=True, timeout=timeout, env=env)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise OrasError(f"oras push {ref}: {exc}") from exc
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise OrasError(f"oras push {ref}: {detail[-1] if detail else done.returncode}")
    for line in done.stdout.splitlines():
        if line.startswith("Digest:"):
            return line.split(":", 1)[1].strip()
    return ""
