"""Import: watches local.documents/ for new files (python ServeImport.py watch)."""

import os
import sys

# Every folder of every factory set goes on sys.path: modules import each other by bare name.
APP_ROOT = os.path.dirname(os.path.abspath(__file__))
sys.path[1:1] = [folder for name in sorted(os.listdir(APP_ROOT)) if name.startswith("factory.")
                 for folder, _, _ in os.walk(os.path.join(APP_ROOT, name))
                 if os.path.basename(folder) != "__pycache__"]

import argparse  # noqa: E402

from ObjEnvironment import ObjEnvironment  # noqa: E402
from ObjService import ObjService  # noqa: E402


def snapshot(folder):
    """The visible file names in `folder` (empty when it does not exist)."""
    if not os.path.isdir(folder):
        return set()
    return set(n for n in os.listdir(folder) if not n.startswith("."))


def main(argv=None):
    """Beat until SIGTERM, logging files that appeared since the last beat."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["watch"])
    parser.parse_args(argv)
    service = ObjService("import")
    folder = dict(ObjEnvironment.document_folders())["local.documents"]
    seen = [snapshot(folder)]

    def tick():
        current = snapshot(folder)
        new = sorted(current - seen[0])
        seen[0] = current
        return "watching %d files, new: %s" % (len(current), ", ".join(new) or "none")

    return service.run_worker(tick, "watching " + folder)


if __name__ == "__main__":
    sys.exit(main())
