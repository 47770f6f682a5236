"""Work inside builder containers: a C compile, files copied out of an image. Everything
goes through the engine itself (stdin, stdout, `docker cp`), never a bind mount, so the
engine may be a remote one that sees none of this host's folders."""

from __future__ import annotations

import subprocess
from pathlib import Path

from axion_build.adapters.docker import docker_cli, ensure_remote_context

# runs in the builder: the C file arrives as a tar on stdin, the built module leaves as a
# tar on stdout, the compiler speaks on stderr; nothing is mounted, so a remote engine works
IN_CONTAINER = 'set -e; mkdir -p /in /out; tar -x -C /in; "$@" >&2; tar -c -C /out .'


def compile_in_image(image: str, platform: str, c_file: Path, out_file: Path,
                     command: list[str]) -> tuple[bool, str, int]:
    """Run a C compile inside `image`: `c_file` is sent in as /in/<name>, and /out/<name of
    out_file> comes back as `out_file`, both through the engine (no shared folders); (ok,
    the compiler's output, `docker run`'s exit code)."""
    import io
    import tarfile

    sent = io.BytesIO()
    with tarfile.open(fileobj=sent, mode="w") as archive:
        archive.add(c_file, arcname=c_file.name)
    ensure_remote_context()
    done = subprocess.run(["docker", "run", "-i", "--rm", "--network", "none",
                           "--platform", platform, image, "sh", "-c", IN_CONTAINER, "sh",
                           *command], input=sent.getvalue(), capture_output=True)
    output = done.stderr.decode(errors="replace")
    if done.returncode != 0:
        return False, output, done.returncode
    try:
        with tarfile.open(fileobj=io.BytesIO(done.stdout)) as archive:
            member = archive.extractfile(f"./{out_file.name}")
            data = member.read() if member else b""
    except (tarfile.TarError, KeyError) as exc:
        return False, f"{output}\nno {out_file.name} came back from the builder: {exc}", 0
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out_file.write_bytes(data)
    return True, output, 0


def copy_from_image(image: str, platform: str, paths: tuple[str, ...], dest: Path) -> list[str]:
    """Copy `paths` out of `image` to the same paths under `dest`, without running it;
    the paths the image had."""
    # never started: the command only satisfies images without one
    container = docker_cli(["create", "--platform", platform, image, "true"]).stdout.strip()
    copied = []
    try:
        for path in paths:
            target = dest / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            if docker_cli(["cp", f"{container}:{path}", str(target)], check=False).returncode == 0:
                copied.append(path)
    finally:
        docker_cli(["rm", "--force", container], check=False)
    return copied
