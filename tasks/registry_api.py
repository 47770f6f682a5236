"""Registry HTTP API (distribution v2): manifest digests for the push stage."""

from __future__ import annotations

import base64
import urllib.error
import urllib.request

from tasks.config import RegistrySpec

MANIFEST_TYPES = ", ".join((
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
))


class RegistryError(Exception):
    """The registry cannot be reached or refuses us."""


def base_url(spec: RegistrySpec) -> str:
    """`http://host:port` for insecure registries, else https."""
    scheme = "http" if spec.insecure else "https"
    return f"{scheme}://{spec.url}"


def request(spec: RegistrySpec, path: str, method: str = "GET",
            accept: str = MANIFEST_TYPES) -> urllib.request.Request:
    """A request with the registry's credentials (pure)."""
    req = urllib.request.Request(base_url(spec) + path, method=method,
                                 headers={"Accept": accept})
    if spec.username:
        token = base64.b64encode(f"{spec.username}:{spec.password}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
    return req


def manifest_digest(spec: RegistrySpec, repo: str, tag: str) -> str:
    """Digest of `repo:tag` in the registry, '' when the tag does not exist."""
    try:
        with urllib.request.urlopen(request(spec, f"/v2/{repo}/manifests/{tag}", "HEAD"),
                                    timeout=10) as answer:
            return answer.headers.get("Docker-Content-Digest", "")
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return ""
        if exc.code in (401, 403):
            message = (f"{spec.url} refused the credentials (HTTP {exc.code}): "
                       "set registry.username/password or AXION_REGISTRY_PASSWORD")
            raise RegistryError(message) from exc
        raise RegistryError(f"{spec.url} answered HTTP {exc.code} for {repo}:{tag}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise RegistryError(f"registry {spec.url} unreachable: {exc}") from exc
