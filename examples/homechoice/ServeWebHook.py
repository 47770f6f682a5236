"""WebHook: accepts POST /webhook/<name> and logs it (python ServeWebHook.py serve 9500)."""

import os
import sys

# Every folder of every factory set goes on sys.path: modules import each other by bare name.
APP_ROOT = os.path.dirname(os.path.abspath(__file__))
sys.path[1:1] = [folder for name in sorted(os.listdir(APP_ROOT)) if name.startswith("factory.")
                 for folder, _, _ in os.walk(os.path.join(APP_ROOT, name))
                 if os.path.basename(folder) != "__pycache__"]

import argparse  # noqa: E402
import hashlib  # noqa: E402
import re  # noqa: E402

import jsoncodec  # noqa: E402
from ObjHttp import error_response, json_response  # noqa: E402
from ObjService import ObjService  # noqa: E402

HOOK_NAME = re.compile(r"^/([A-Za-z0-9][A-Za-z0-9_.-]{0,63})$")


def receive(service, request):
    """Log one delivery and acknowledge it with its size and digest."""
    match = HOOK_NAME.match(request.path)
    if not match:
        return error_response(404, "post to <route>/<hook name>")
    if request.method != "POST":
        return error_response(405, "webhooks are delivered with POST")
    name = match.group(1)
    digest = hashlib.sha256(request.body).hexdigest()
    kind = "raw"
    if "json" in (request.headers.get("Content-Type") or ""):
        try:
            payload = jsoncodec.loads(request.body or b"null")
        except ValueError as exc:
            return error_response(400, "invalid JSON: %s" % exc)
        kind = "json %s" % type(payload).__name__
    service.log.info("webhook %s received %d bytes (%s, sha256 %s)" % (
        name, len(request.body), kind, digest[:16]))
    return json_response({"accepted": name, "bytes": len(request.body), "kind": kind,
                          "sha256": digest, "decoder": jsoncodec.engine()}, 202)


def main(argv=None):
    """Receive webhooks until SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["serve"])
    parser.add_argument("port", type=int, nargs="?", help="port (default: config)")
    args = parser.parse_args(argv)
    service = ObjService("webhook")
    port = args.port or service.config.service_port("webhook", 9500)
    return service.run_http(port, service.configured_route("/webhook"),
                            lambda request: receive(service, request))


if __name__ == "__main__":
    sys.exit(main())
