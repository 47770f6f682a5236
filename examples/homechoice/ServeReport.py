"""Report: the self-test harness at /report/status (python ServeReport.py --port 9400)."""

import os
import sys

# Every folder of every factory set goes on sys.path: modules import each other by bare name.
APP_ROOT = os.path.dirname(os.path.abspath(__file__))
sys.path[1:1] = [folder for name in sorted(os.listdir(APP_ROOT)) if name.startswith("factory.")
                 for folder, _, _ in os.walk(os.path.join(APP_ROOT, name))
                 if os.path.basename(folder) != "__pycache__"]

import argparse  # noqa: E402

from ObjHttp import Response, error_response, html_response, json_response  # noqa: E402
from ObjReportPage import render_html, render_png  # noqa: E402
from ObjReportStatus import ObjReportStatus  # noqa: E402
from ObjService import ObjService  # noqa: E402


def status(request, route):
    """/status as HTML, ?format=json or ?format=png; every request runs the checks afresh."""
    report = ObjReportStatus(APP_ROOT).report()
    kind = request.param("format", "html")
    if kind == "json":
        return json_response(report)
    if kind == "png":
        return Response(200, render_png(report), "image/png")
    if kind == "html":
        return html_response(render_html(report, route))
    return error_response(400, "unknown format %r (html, json, png)" % kind)


def main(argv=None):
    """Serve the status report until SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, help="port to listen on (default: config)")
    args = parser.parse_args(argv)
    service = ObjService("report")
    route = service.configured_route("/report")

    def handle(request):
        if request.method == "GET" and request.path in ("/", "/status"):
            return status(request, route)
        return error_response(404, "no such report page: %s" % request.path)

    return service.run_http(args.port or service.config.service_port("report", 9400),
                            route, handle)


if __name__ == "__main__":
    sys.exit(main())
