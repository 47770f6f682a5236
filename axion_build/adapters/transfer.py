"""Images between the engine and registries: log in, pull a base for one platform, push
tags, make manifest lists. Every call goes through the engine's own CLI, so the user's
docker credentials, contexts and insecure-registry settings apply."""

from __future__ import annotations

from axion_build.adapters.docker import DockerError, docker_cli

# what `docker pull` says when the reference does not name an image
UNKNOWN_WORDS = ("not found", "manifest unknown", "pull access denied", "does not exist",
                 "no matching manifest", "repository name must", "invalid reference")
DENIED_WORDS = ("unauthorized", "authentication required", "denied:", "403 Forbidden")
# the engine would speak HTTPS to a registry that answers plain HTTP
PLAIN_HTTP_WORDS = ("server gave HTTP response to HTTPS client",)


class PullError(DockerError):
    """A base image could not be pulled; `kind` is 'unknown', 'denied', 'plain-http' or
    'unreachable'."""

    def __init__(self, kind: str, detail: str):
        super().__init__(detail)
        self.kind, self.detail = kind, detail


def login(registry) -> None:
    """Log in to `registry` (a RegistrySpec) when it has credentials; password via stdin."""
    if not registry.username:
        return
    docker_cli(["login", "--username", registry.username, "--password-stdin", registry.url],
               input_text=registry.password)


def push_tags(local: str, ref: str, tags: list[str]) -> str:
    """Tag `local` as `ref:tag` for each tag, push them, return the pushed digest."""
    digest = ""
    for tag in tags:
        docker_cli(["tag", local, f"{ref}:{tag}"])
        done = docker_cli(["push", f"{ref}:{tag}"])
        for line in done.stdout.splitlines():
            if "digest: sha256:" in line:
                digest = "sha256:" + line.split("digest: sha256:", 1)[1].split()[0]
    return digest


def create_manifest_list(ref: str, tags: list[str], sources: list[str], *,
                         insecure: bool) -> str:
    """Make the manifest list `ref:tag` for each tag from per-platform images; its digest."""
    args = ["buildx", "imagetools", "create"]
    for tag in tags:
        args += ["-t", f"{ref}:{tag}"]
    docker_cli([*args, *sources])
    done = docker_cli(["buildx", "imagetools", "inspect", f"{ref}:{tags[0]}"])
    for line in done.stdout.splitlines():
        if line.strip().startswith("Digest:"):
            return line.split(":", 1)[1].strip()
    return ""


def pull(ref: str, platform: str) -> None:
    """`docker pull --platform` one reference; PullError says what kind of failure."""
    done = docker_cli(["pull", "--quiet", "--platform", platform, ref], check=False)
    if done.returncode == 0:
        return
    detail = (done.stderr or done.stdout).strip().splitlines()
    text = detail[-1] if detail else f"exit {done.returncode}"
    lowered = text.lower()
    if any(w.lower() in lowered for w in PLAIN_HTTP_WORDS):
        raise PullError("plain-http", text)
    if any(w.lower() in lowered for w in DENIED_WORDS):
        raise PullError("denied", text)
    if any(w.lower() in lowered for w in UNKNOWN_WORDS):
        raise PullError("unknown", text)
    raise PullError("unreachable", text)
