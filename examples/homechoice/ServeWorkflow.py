"""Workflow: dispatches queued documents (python ServeWorkflow.py dispatcher)."""

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


def queued(folder):
    """The visible files waiting in `folder` (none when it does not exist)."""
    if not os.path.isdir(folder):
        return []
    return sorted(n for n in os.listdir(folder) if not n.startswith(".")
                  and os.path.isfile(os.path.join(folder, n)))


def main(argv=None):
    """Beat until SIGTERM, reporting the queue in data.documents/."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["dispatcher"])
    parser.parse_args(argv)
    service = ObjService("workflow")
    queue = dict(ObjEnvironment.document_folders())["data.documents"]
    return service.run_worker(lambda: "queue %d documents" % len(queued(queue)),
                              "queue " + queue)


if __name__ == "__main__":
    sys.exit(main())
