"""The status report rendered for people: an HTML dashboard and a PNG badge."""

import html

from ObjGlyph import text_width
from ObjPng import ObjPng

GREEN = (46, 160, 67)
RED = (207, 34, 46)
INK = (36, 41, 47)
MUTED = (225, 228, 232)
WIDTH = 560
ROW = 22
TOP = 64


def summary_line(report):
    """'PACKAGE 8/10 80%' for headings."""
    summary = report["tests"]["summary"]
    return "%s %d/%d %d%%" % (report["package"], summary["passed"], summary["total"],
                              summary["pass_rate"])


def assertion_rows(report):
    """The table rows of the dashboard."""
    rows = []
    for item in report["tests"]["assertions"]:
        state = "pass" if item["pass"] else "fail"
        rows.append('<tr class="%s"><td>%s</td><td>%s</td><td>%s</td></tr>' % (
            state, state.upper(), html.escape(item["name"]), html.escape(item["detail"])))
    return "\n".join(rows)


def service_rows(report):
    """The services table rows."""
    rows = []
    for service in report["services"]:
        rows.append("<tr><td>%s</td><td>%s %s</td><td>%s</td><td>%s</td></tr>" % (
            html.escape(service["name"]), html.escape(service["script"]),
            html.escape(" ".join(service["args"])), service["port"] or "",
            html.escape(service["route"] or "")))
    return "\n".join(rows)


def render_html(report, route):
    """The HTML dashboard of the status report."""
    summary = report["tests"]["summary"]
    return PAGE % {
        "title": html.escape("%s status" % report["package"]),
        "summary": html.escape(summary_line(report)),
        "grade": summary["grade"],
        "generated": html.escape(report["generated"]),
        "home": html.escape(report["axion_home"]),
        "python": html.escape("%s (%s)" % (report["python"], report["machine"])),
        "assertions": assertion_rows(report),
        "services": service_rows(report),
        "base": html.escape(route.rstrip("/")),
    }


def render_png(report):
    """A PNG badge: pass-rate bar and one coloured row per assertion."""
    assertions = report["tests"]["assertions"]
    summary = report["tests"]["summary"]
    image = ObjPng(WIDTH, TOP + ROW * len(assertions) + 12)
    image.fill(0, 0, WIDTH, 40, INK)
    image.text(12, 10, summary_line(report), (255, 255, 255), scale=4)
    image.fill(12, 46, WIDTH - 24, 8, MUTED)
    image.fill(12, 46, (WIDTH - 24) * summary["pass_rate"] // 100, 8,
               GREEN if summary["failed"] == 0 else RED)
    for index, item in enumerate(assertions):
        y = TOP + index * ROW
        image.fill(12, y, 14, 14, GREEN if item["pass"] else RED)
        label = item["name"] + (" OK" if item["pass"] else " FAILED")
        image.text(36, y + 2, label[: (WIDTH - 48) // text_width("x")], INK, scale=2)
    return image.encode()


PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>%(title)s</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2rem; color: #24292f; }
table { border-collapse: collapse; width: 100%%; margin-bottom: 2rem; }
td, th { border-bottom: 1px solid #e1e4e8; padding: .4rem .6rem; text-align: left; }
tr.pass td:first-child { color: #2ea043; font-weight: bold; }
tr.fail td:first-child { color: #cf222e; font-weight: bold; }
.kpi { font-size: 1.6rem; }
</style>
</head>
<body>
<h1>%(title)s</h1>
<p class="kpi">%(summary)s &middot; grade %(grade)s</p>
<p>Generated %(generated)s &middot; AXION_HOME %(home)s &middot; Python %(python)s</p>
<p><img src="%(base)s/status?format=png" alt="status badge"></p>
<p><a href="%(base)s/status?format=json">JSON</a></p>
<h2>Checks</h2>
<table>
<tr><th>Result</th><th>Check</th><th>Detail</th></tr>
%(assertions)s
</table>
<h2>Services</h2>
<table>
<tr><th>Service</th><th>Command</th><th>Port</th><th>Route</th></tr>
%(services)s
</table>
</body>
</html>
"""
