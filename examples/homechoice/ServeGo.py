"""Go: the background job runner (python ServeGo.py)."""

import os
import sys

# Every folder of every factory set goes on sys.path: modules import each other by bare name.
APP_ROOT = os.path.dirname(os.path.abspath(__file__))
sys.path[1:1] = [folder for name in sorted(os.listdir(APP_ROOT)) if name.startswith("factory.")
                 for folder, _, _ in os.walk(os.path.join(APP_ROOT, name))
                 if os.path.basename(folder) != "__pycache__"]

import argparse  # noqa: E402

from ObjService import ObjService  # noqa: E402


def main(argv=None):
    """Beat until SIGTERM, reporting uptime and completed cycles."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.parse_args(argv)
    service = ObjService("go")
    cycles = []

    def tick():
        cycles.append(1)
        return "cycle %d, uptime %.0fs" % (len(cycles), service.uptime())

    return service.run_worker(tick)


if __name__ == "__main__":
    sys.exit(main())
