"""The HTTP side of a service: requests, responses, route prefixes and /health.

Caddy proxies `<route>/*` without stripping the prefix, so each service serves
its paths under its route and answers /health both at the root and under it.
"""

import json
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

MAX_BODY = 1024 * 1024


def route_prefix(route):
    """The path prefix of a route: '/report' -> '/report', '/' -> ''."""
    return "/" + route.strip("/") if route and route.strip("/") else ""


def strip_route(route, path):
    """The path relative to the route ('/' at least), or None when outside it."""
    prefix = route_prefix(route)
    if not prefix:
        return path or "/"
    if path == prefix:
        return "/"
    if path.startswith(prefix + "/"):
        return path[len(prefix):]
    return None


class Request:
    """One request as the service sees it: the path is relative to the route."""

    def __init__(self, method, path, query, headers, body):
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body

    def param(self, name, default=""):
        """The first value of query parameter `name`."""
        return self.query.get(name, [default])[0]


class Response:
    """Status, content type and body bytes."""

    def __init__(self, status, body, content_type):
        self.status = status
        self.body = body
        self.content_type = content_type


def json_response(payload, status=200):
    """A JSON response."""
    body = json.dumps(payload, indent=2, sort_keys=False).encode("utf-8")
    return Response(status, body, "application/json")


def html_response(text, status=200):
    """An HTML response."""
    return Response(status, text.encode("utf-8"), "text/html; charset=utf-8")


def error_response(status, message):
    """A JSON error response."""
    return json_response({"error": message, "status": status}, status)


class ServiceServer(ThreadingHTTPServer):
    """A threading server that carries the service it answers for."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, service, route, handle):
        self.service = service
        self.route = route
        self.handle = handle
        ThreadingHTTPServer.__init__(self, address, ServiceHandler)


class ServiceHandler(BaseHTTPRequestHandler):
    """Dispatches every request to the service's `handle(request)`."""

    server_version = "Axion"

    def do_GET(self):
        """Answer a GET."""
        self.dispatch("GET")

    def do_POST(self):
        """Answer a POST."""
        self.dispatch("POST")

    def do_HEAD(self):
        """Answer a HEAD like a GET, without the body."""
        self.dispatch("HEAD")

    def dispatch(self, method):
        """Route the request and send the response."""
        split = urlsplit(self.path)
        relative = strip_route(self.server.route, split.path)
        try:
            response = self.respond(method, split, relative)
        except Exception as exc:  # a failing request must not take the service down
            self.server.service.log.error("%s %s failed: %s\n%s" % (
                method, split.path, exc, traceback.format_exc().rstrip()))
            response = error_response(500, "internal error: %s" % exc)
        self.send(response, with_body=method != "HEAD")

    def respond(self, method, split, relative):
        """The response to one request."""
        if split.path == "/health" or relative == "/health":
            return json_response(self.server.service.health())
        if relative is None:
            return error_response(404, "%s is outside %s" % (split.path, self.server.route))
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            return error_response(413, "body over %d bytes" % MAX_BODY)
        body = self.rfile.read(length) if length > 0 else b""
        request = Request("GET" if method == "HEAD" else method, relative,
                          parse_qs(split.query), self.headers, body)
        return self.server.handle(request)

    def send(self, response, with_body=True):
        """Write status, headers and body."""
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("X-Axion-Service", self.server.service.name)
        self.end_headers()
        if with_body:
            self.wfile.write(response.body)

    def log_message(self, format, *args):
        """Access lines go to the service log at debug level."""
        self.server.service.log.debug("%s %s" % (self.address_string(), format % args))
