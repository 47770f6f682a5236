"""Website: serves resource.web/ under / (python ServeWebsite.py 9000)."""

import os
import sys

# Every folder of every factory set goes on sys.path: modules import each other by bare name.
APP_ROOT = os.path.dirname(os.path.abspath(__file__))
sys.path[1:1] = [folder for name in sorted(os.listdir(APP_ROOT)) if name.startswith("factory.")
                 for folder, _, _ in os.walk(os.path.join(APP_ROOT, name))
                 if os.path.basename(folder) != "__pycache__"]

import argparse  # noqa: E402
import mimetypes  # noqa: E402

from ObjHttp import Response, error_response  # noqa: E402
from ObjService import ObjService  # noqa: E402

WEB_ROOT = os.path.join(APP_ROOT, "resource.web")


def static_file(request):
    """The file of resource.web/ the path names; index.html for folders."""
    if request.method != "GET":
        return error_response(405, "the website is read-only")
    path = os.path.realpath(os.path.join(WEB_ROOT, request.path.lstrip("/")))
    if os.path.commonpath([path, os.path.realpath(WEB_ROOT)]) != os.path.realpath(WEB_ROOT):
        return error_response(404, "not found")
    if os.path.isdir(path):
        path = os.path.join(path, "index.html")
    if not os.path.isfile(path):
        return error_response(404, "not found: %s" % request.path)
    kind = mimetypes.guess_type(path)[0] or "application/octet-stream"
    if kind.startswith("text/"):
        kind += "; charset=utf-8"
    with open(path, "rb") as handle:
        return Response(200, handle.read(), kind)


def main(argv=None):
    """Serve the website until SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("port", type=int, nargs="?", help="port (default: config)")
    args = parser.parse_args(argv)
    service = ObjService("web")
    port = args.port or service.config.service_port("web", 9000)
    return service.run_http(port, service.configured_route("/"), static_file)


if __name__ == "__main__":
    sys.exit(main())
