"""Writes to a Docker registry (HTTP API v2): blobs and manifests, checked by digest.

It rides on a RegistryClient (adapters/registry.py) for the base URL, the basic-auth
credentials of an htpasswd account and the TLS settings. Blobs go up monolithically
(POST, then one PUT with the digest, which the registry checks against the bytes), or
are mounted from another repository of the same registry when it already holds them.
"""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.parse
import urllib.request
from email.message import Message

from axion_build.adapters.registry import RegistryClient, RegistryError, client_for
from axion_build.config.model import RegistrySpec

OCTETS = "application/octet-stream"


def digest_of(body: bytes) -> str:
    """The OCI digest of some bytes."""
    return "sha256:" + hashlib.sha256(body).hexdigest()


def with_query(url: str, **params: str) -> str:
    """`url` with `params` added to its query string (an upload URL may carry its own)."""
    separator = "&" if "?" in url else "?"
    return url + separator + urllib.parse.urlencode(params)


class RegistryWriter:
    """Blob and manifest writes to one registry, with a client's credentials."""

    def __init__(self, client: RegistryClient):
        self.client = client

    def send(self, method: str, target: str, body: bytes | None = None,
             content_type: str = "") -> tuple[int, Message]:
        """Status and headers of one request; an HTTP error becomes a RegistryError."""
        url = urllib.parse.urljoin(self.client.base_url + "/", target)
        request = urllib.request.Request(url, data=body, method=method)
        if content_type:
            request.add_header("Content-Type", content_type)
        self.client.authorize(request)
        try:
            with urllib.request.urlopen(request, timeout=self.client.timeout,
                                        context=self.client.context) as response:
                response.read()
                return response.status, response.headers
        except urllib.error.HTTPError as exc:
            raise RegistryError(f"{method} {url}: HTTP {exc.code} {exc.reason}{detail(exc)}",
                                exc.code) from exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise RegistryError(f"{method} {url}: {getattr(exc, 'reason', exc)}") from exc

    def blob_exists(self, repository: str, digest: str) -> bool:
        """Whether `repository` holds the blob `digest` (HEAD)."""
        try:
            self.send("HEAD", f"/v2/{repository}/blobs/{digest}")
        except RegistryError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def upload_blob(self, repository: str, data: bytes) -> str:
        """Upload `data` as one blob of `repository` (POST, then PUT); its digest."""
        _, headers = self.send("POST", f"/v2/{repository}/blobs/uploads/")
        return self.finish_upload(repository, headers, data)

    def finish_upload(self, repository: str, headers: Message, data: bytes) -> str:
        """PUT `data` to the upload session a POST opened; the digest the registry kept."""
        location = headers.get("Location", "")
        if not location:
            raise RegistryError(f"{self.client.base_url}/v2/{repository}: the registry "
                                "opened an upload without a Location")
        digest = digest_of(data)
        _, done = self.send("PUT", with_query(location, digest=digest), data, OCTETS)
        kept = done.get("Docker-Content-Digest") or digest
        if kept != digest:
            raise RegistryError(f"{repository}: the registry kept blob {kept[:19]} for "
                                f"{digest[:19]}")
        return digest

    def put_blob(self, repository: str, data: bytes) -> str:
        """The blob of `data` in `repository`, uploaded unless already there; its digest."""
        digest = digest_of(data)
        if not self.blob_exists(repository, digest):
            self.upload_blob(repository, data)
        return digest

    def mount_blob(self, repository: str, digest: str, source: str,
                   data: bytes | None = None) -> str:
        """Make blob `digest` of `source` one of `repository` too: mounted by the registry
        ('mounted') or, when it declines, uploaded ('uploaded': `data`, else the bytes
        read from `source` and checked against the digest)."""
        status, headers = self.send("POST", with_query(
            f"/v2/{repository}/blobs/uploads/", mount=digest, **{"from": source}))
        if status == 201:
            return "mounted"
        if data is None:
            data = self.client.blob(source, digest)
        if digest_of(data) != digest:
            raise RegistryError(f"blob {digest[:19]} of {source} does not match its digest")
        self.finish_upload(repository, headers, data)
        return "uploaded"

    def put_manifest(self, repository: str, reference: str, body: bytes,
                     media_type: str) -> str:
        """PUT a manifest under a tag or its digest; its digest, checked against the one
        the registry computed."""
        digest = digest_of(body)
        _, headers = self.send("PUT", f"/v2/{repository}/manifests/{reference}", body,
                               media_type)
        kept = headers.get("Docker-Content-Digest") or digest
        if kept != digest:
            raise RegistryError(f"{repository}:{reference}: the registry computed {kept} "
                                f"for a manifest of {digest}")
        return digest


def writer_for(spec: RegistrySpec, timeout: float = 30.0) -> RegistryWriter:
    """A writer with the registry's configured credentials and TLS settings."""
    return RegistryWriter(client_for(spec, timeout))


def detail(exc: urllib.error.HTTPError) -> str:
    """The start of a registry's error body (its JSON names the error code), or ''."""
    try:
        body = exc.read(300).decode("utf-8", "replace").strip()
    except OSError:
        return ""
    return f": {body}" if body else ""
