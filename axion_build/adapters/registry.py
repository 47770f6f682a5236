"""Read-only client of a Docker registry (HTTP API v2) for the report's registry overview.

Lists repositories, tags, manifest digests, sizes and platforms, over http or https,
with optional basic auth (a private registry's htpasswd). It never writes: writes are
adapters/registrywrite.py's, over this client's credentials and TLS settings.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import hashlib
import json
import re
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import Message
from typing import Any

from axion_build.config.model import RegistrySpec

INDEX_TYPES = ("application/vnd.docker.distribution.manifest.list.v2+json",
               "application/vnd.oci.image.index.v1+json")
IMAGE_TYPES = ("application/vnd.docker.distribution.manifest.v2+json",
               "application/vnd.oci.image.manifest.v1+json")
PAGE = 100
# cosign keeps a digest's signature, attestations and SBOM under tags named after it
COSIGN_TAG = re.compile(r"^sha256-[0-9a-f]{64}\.(sig|att|sbom)$")


class RegistryError(Exception):
    """The registry could not be read; the message says where and why."""

    def __init__(self, message: str, status: int = 0):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class TagInfo:
    """One tag of a repository: what it points at and for which platforms."""

    repository: str
    tag: str
    digest: str = ""
    size: int = 0
    platforms: tuple[str, ...] = ()
    kind: str = ""
    error: str = ""
    signed: bool = False  # the repository holds cosign's signature of this digest


@dataclass(frozen=True)
class RegistryOverview:
    """What the registry holds under a prefix, or why it could not be read."""

    url: str
    reachable: bool
    error: str = ""
    repositories: tuple[str, ...] = ()
    tags: tuple[TagInfo, ...] = ()
    truncated: bool = False


def registry_base_url(spec: RegistrySpec) -> str:
    """The API root: the URL as configured, http for an insecure registry, else https."""
    url = spec.url.rstrip("/")
    if "://" in url:
        return url
    return f"{'http' if spec.insecure else 'https'}://{url}"


@functools.cache
def tls_context(insecure: bool) -> ssl.SSLContext:
    """The TLS settings of registry requests (verification off for insecure registries)."""
    context = ssl.create_default_context()
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class RegistryClient:
    """GET requests against one registry, with its credentials."""

    def __init__(self, base_url: str, username: str = "", password: str = "",
                 insecure: bool = False, timeout: float = 5.0):
        self.base_url = base_url.rstrip("/")
        self.username, self.password = username, password
        self.timeout = timeout
        # loading the CA store costs ~30 ms: only for https, once per process
        self.context = tls_context(insecure) if self.base_url.startswith("https") else None

    def authorize(self, request: urllib.request.Request) -> None:
        """Add the registry's basic-auth credentials (an htpasswd account) to `request`."""
        if self.username:
            pair = f"{self.username}:{self.password}".encode()
            request.add_header("Authorization", "Basic " + base64.b64encode(pair).decode())

    def get(self, path: str, accept: tuple[str, ...] = ()) -> tuple[bytes, Message]:
        """Body and headers of GET `path`; any failure becomes a RegistryError."""
        request = urllib.request.Request(f"{self.base_url}{path}")
        if accept:
            request.add_header("Accept", ", ".join(accept))
        self.authorize(request)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout,
                                        context=self.context) as response:
                return response.read(), response.headers
        except urllib.error.HTTPError as exc:
            raise RegistryError(f"GET {request.full_url}: HTTP {exc.code} {exc.reason}",
                                exc.code) from exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise RegistryError(f"GET {request.full_url}: {reason}") from exc

    def get_json(self, path: str, accept: tuple[str, ...] = ()) -> tuple[Any, Message]:
        """Decoded JSON body and headers of GET `path`."""
        body, headers = self.get(path, accept)
        return json.loads(body or b"null"), headers

    def catalog(self, limit: int = 1000) -> list[str]:
        """Repository names, following the registry's pagination up to `limit`."""
        names: list[str] = []
        path = f"/v2/_catalog?n={PAGE}"
        while path and len(names) < limit:
            data, headers = self.get_json(path)
            names += (data or {}).get("repositories") or []
            path = next_page(headers.get("Link", ""))
        return names[:limit]

    def tags(self, repository: str) -> list[str]:
        """Tags of one repository, sorted."""
        data, _ = self.get_json(f"/v2/{repository}/tags/list")
        return sorted((data or {}).get("tags") or [])

    def all_tags(self, repository: str, page: int = 1000) -> set[str]:
        """Every tag of a repository, `page` per request (a missing repository has none)."""
        found: set[str] = set()
        path = f"/v2/{repository}/tags/list?n={page}"
        while path:
            try:
                data, headers = self.get_json(path)
            except RegistryError as exc:
                if exc.status == 404:
                    return found
                raise
            found.update((data or {}).get("tags") or [])
            path = next_page(headers.get("Link", ""))
        return found

    def blob(self, repository: str, digest: str) -> bytes:
        """The bytes of one blob (unchecked: the caller compares them with the digest)."""
        return self.get(f"/v2/{repository}/blobs/{digest}")[0]

    def manifest(self, repository: str, reference: str) -> tuple[dict, str, str]:
        """A manifest, its digest and media type."""
        body, headers = self.get(f"/v2/{repository}/manifests/{reference}",
                                 INDEX_TYPES + IMAGE_TYPES)
        digest = (headers.get("Docker-Content-Digest")
                  or "sha256:" + hashlib.sha256(body).hexdigest())
        data = json.loads(body)
        kind = headers.get("Content-Type", "").split(";")[0] or data.get("mediaType", "")
        return data, digest, kind

    def describe(self, repository: str, tag: str) -> TagInfo:
        """Digest, total size and platforms of one tag."""
        data, digest, kind = self.manifest(repository, tag)
        if kind in INDEX_TYPES or "manifests" in data:
            size, platforms = 0, []
            for child in data.get("manifests") or []:
                platform = child.get("platform") or {}
                if platform.get("os") in (None, "unknown"):
                    continue  # build attestations, not images
                platforms.append(platform_name(platform))
                image, _, _ = self.manifest(repository, child["digest"])
                size += image_size(image)
            return TagInfo(repository, tag, digest, size, tuple(platforms), "index")
        config = data.get("config") or {}
        blob = {}
        if config.get("digest"):
            blob, _ = self.get_json(f"/v2/{repository}/blobs/{config['digest']}")
        return TagInfo(repository, tag, digest, image_size(data), (platform_name(blob or {}),),
                       "image")


def client_for(spec: RegistrySpec, timeout: float = 10.0) -> RegistryClient:
    """A client with the registry's configured credentials."""
    return RegistryClient(registry_base_url(spec), spec.username, spec.password,
                          insecure=spec.insecure, timeout=timeout)


def manifest_digest(spec: RegistrySpec, repository: str, tag: str) -> str:
    """Digest of `repository:tag`, '' when the tag does not exist; RegistryError when the
    registry cannot be reached or refuses the credentials."""
    try:
        return client_for(spec).manifest(repository, tag)[1]
    except RegistryError as exc:
        if exc.status == 404:
            return ""
        if exc.status in (401, 403):
            raise RegistryError(f"{spec.url} refused the credentials ({exc}): set "
                                "registry.username/password or AXION_REGISTRY_PASSWORD",
                                exc.status) from exc
        raise


def next_page(link: str) -> str:
    """The path of the next page from a `Link: <...>; rel="next"` header, or ''."""
    match = re.search(r'<([^>]+)>\s*;\s*rel="?next"?', link)
    return match.group(1) if match else ""


def image_size(manifest: dict) -> int:
    """Bytes of an image manifest's config and (compressed) layers."""
    layers = manifest.get("layers") or []
    return int((manifest.get("config") or {}).get("size", 0)) + sum(int(x.get("size", 0))
                                                                    for x in layers)


def platform_name(spec: dict) -> str:
    """`os/architecture[/variant]` from a manifest platform or an image config."""
    parts = [spec.get("os", "?"), spec.get("architecture", "?")]
    if spec.get("variant"):
        parts.append(spec["variant"])
    return "/".join(parts)


def image_tags(tags: list[str]) -> tuple[list[str], set[str]]:
    """(the image tags, `latest` first; cosign's signature and attestation tags) — pure."""
    cosign = {t for t in tags if COSIGN_TAG.match(t)}
    names = sorted((t for t in tags if t not in cosign), key=lambda t: (t != "latest", t))
    return names, cosign


def overview(spec: RegistrySpec, prefix: str = "", max_repositories: int = 40,
             max_tags: int = 20, timeout: float = 5.0) -> RegistryOverview:
    """Repositories under `prefix` with their tags; unreachable is a note, not a failure.

    The repositories are read concurrently (a few requests each, mostly waiting).
    """
    from concurrent.futures import ThreadPoolExecutor

    base = registry_base_url(spec)
    client = RegistryClient(base, spec.username, spec.password, spec.insecure, timeout)
    try:
        repositories = [r for r in client.catalog() if r.startswith(prefix)]
    except (RegistryError, ValueError) as exc:
        return RegistryOverview(url=base, reachable=False, error=str(exc))

    def read(repository: str) -> tuple[list[TagInfo], bool]:
        try:
            # `latest` first: a short listing shows what deploys pull
            every = client.tags(repository)
        except (RegistryError, ValueError) as exc:
            return [TagInfo(repository, "", error=str(exc))], False
        names, signatures = image_tags(every)
        infos = []
        for tag in names[:max_tags]:
            try:
                info = client.describe(repository, tag)
                signed = info.digest.replace(":", "-") + ".sig" in signatures
                infos.append(dataclasses.replace(info, signed=signed))
            except (RegistryError, KeyError, ValueError) as exc:
                infos.append(TagInfo(repository, tag, error=str(exc)))
        return infos, len(names) > max_tags

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(read, repositories[:max_repositories]))
    tags = [info for infos, _ in results for info in infos]
    truncated = len(repositories) > max_repositories or any(more for _, more in results)
    return RegistryOverview(url=base, reachable=True, repositories=tuple(repositories),
                            tags=tuple(tags), truncated=truncated)
