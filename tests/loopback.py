"""Loopback helpers of the deploy tests: free host ports, and a GET that no proxy of the
environment can intercept."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request

DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_ports(count: int) -> list[int]:
    """`count` distinct ports nothing listens on right now."""
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def get(url: str, timeout: float = 10.0) -> tuple[int, bytes]:
    """Status and body of a GET (an HTTP error status too); OSError when nothing answers."""
    try:
        with DIRECT.open(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
