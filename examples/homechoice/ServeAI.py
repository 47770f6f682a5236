"""AI: text similarity under /ai (python ServeAI.py main --port 9700).

The AI library (numpy, from requirements-ai.txt) is imported only when
AXION_AI_ENABLED=1; without it the service answers with pure Python.
"""

import os
import sys

# Every folder of every factory set goes on sys.path: modules import each other by bare name.
APP_ROOT = os.path.dirname(os.path.abspath(__file__))
sys.path[1:1] = [folder for name in sorted(os.listdir(APP_ROOT)) if name.startswith("factory.")
                 for folder, _, _ in os.walk(os.path.join(APP_ROOT, name))
                 if os.path.basename(folder) != "__pycache__"]

import argparse  # noqa: E402

import scoring  # noqa: E402
import textkit  # noqa: E402
from ObjHttp import error_response, json_response  # noqa: E402
from ObjService import ObjService  # noqa: E402


def load_engine(log):
    """numpy when AI is enabled and installed, else None."""
    if os.environ.get("AXION_AI_ENABLED", "0") != "1":
        return None
    try:
        import numpy
    except ImportError as exc:
        log.warning("AXION_AI_ENABLED=1 but the AI library is missing (%s)" % exc)
        return None
    return numpy


def similarity(engine, left, right):
    """Cosine similarity of the trigram profiles of two texts."""
    a, b = textkit.trigrams(left), textkit.trigrams(right)
    if engine is None:
        return scoring.cosine(a, b)
    keys = sorted(set(a) | set(b))
    va = engine.array([a.get(k, 0) for k in keys], dtype=float)
    vb = engine.array([b.get(k, 0) for k in keys], dtype=float)
    norm = float(engine.linalg.norm(va) * engine.linalg.norm(vb))
    return float(va.dot(vb)) / norm if norm else 0.0


def main(argv=None):
    """Answer similarity requests until SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["main"])
    parser.add_argument("--port", type=int, help="port (default: config)")
    args = parser.parse_args(argv)
    service = ObjService("ai")
    engine = load_engine(service.log)
    name = "numpy %s" % engine.__version__ if engine is not None else "python"

    def handle(request):
        if request.path == "/info":
            return json_response({"engine": name, "ai_enabled": engine is not None})
        if request.path == "/similarity":
            score = similarity(engine, request.param("a"), request.param("b"))
            return json_response({"similarity": round(score, 6), "engine": name})
        return error_response(404, "try <route>/similarity?a=...&b=... or <route>/info")

    port = args.port or service.config.service_port("ai", 9700)
    return service.run_http(port, service.configured_route("/ai"), handle)


if __name__ == "__main__":
    sys.exit(main())
