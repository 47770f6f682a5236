"""What an image is, for comparing two builds: every file's path, mode and content hash,
and the config a container runs with (command, env, ports, labels)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import tarfile
from pathlib import Path

# a private key that is nobody's, for the secret guard to find
PEM = (b"-----BEGIN PRIVATE KEY-----\n"
       + b"MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n" * 3
       + b"-----END PRIVATE KEY-----\n")

# the fields of an image's config that change how its containers run
CONFIG_FIELDS = ("Cmd", "Entrypoint", "Env", "ExposedPorts", "Labels", "WorkingDir", "User")


def image_config(tag: str) -> dict:
    """The run-time config of `tag` (command, env, exposed ports, labels, ...)."""
    done = subprocess.run(["docker", "image", "inspect", tag], capture_output=True, text=True,
                          check=True)
    config = json.loads(done.stdout)[0]["Config"] or {}
    return {field: config.get(field) for field in CONFIG_FIELDS}


def image_files(tag: str) -> dict[str, str]:
    """Path → 'mode sha256' (or the link target) of every file in `tag`'s filesystem."""
    created = subprocess.run(["docker", "create", tag, "true"], capture_output=True, text=True,
                             check=True)
    container = created.stdout.strip()
    try:
        export = subprocess.Popen(["docker", "export", container], stdout=subprocess.PIPE)
        files = {}
        with tarfile.open(fileobj=export.stdout, mode="r|") as tar:
            for member in tar:
                files[member.name] = member_fact(tar, member)
        export.wait()
    finally:
        subprocess.run(["docker", "rm", "-f", container], capture_output=True)
    return files


def member_fact(tar: tarfile.TarFile, member: tarfile.TarInfo) -> str:
    """One file's mode and content hash, a link's target, a folder's mode."""
    if member.isfile():
        digest = hashlib.sha256(tar.extractfile(member).read()).hexdigest()
        return f"{member.mode:o} {digest}"
    if member.issym() or member.islnk():
        return f"link {member.linkname}"
    return f"{member.mode:o} {member.type!r}"


def image_snapshot(tag: str) -> dict:
    """Files and config of `tag`."""
    return {"files": image_files(tag), "config": image_config(tag)}


def tree_snapshot(root: Path) -> dict[str, str]:
    """Relative path → sha256 of every file under `root` (empty when it is missing)."""
    if not root.is_dir():
        return {}
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def differences(left: dict, right: dict, shown: int = 8) -> list[str]:
    """Readable differences of two snapshots (files or config), the first few."""
    out = []
    for part in ("config", "files"):
        a, b = left.get(part, {}), right.get(part, {})
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                out.append(f"{part} {key}: {a.get(key)!r} != {b.get(key)!r}")
    return out[:shown]


def docker_label(tag: str) -> str:
    """The inputs label of `tag`, '' when the engine has no such tag."""
    done = subprocess.run(["docker", "image", "inspect", "--format",
                           '{{index .Config.Labels "org.axion.inputs"}}', tag],
                          capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else ""
