"""SMS: sends queued text messages through the SMTP gateway (python ServeSms.py)."""

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


def outbox_size(folder):
    """How many messages wait in `folder` (0 when it does not exist)."""
    if not os.path.isdir(folder):
        return 0
    return len([n for n in os.listdir(folder) if n.endswith(".sms")])


def main(argv=None):
    """Beat until SIGTERM, reporting the outbox and the gateway."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.parse_args(argv)
    service = ObjService("sms")
    outbox = dict(ObjEnvironment.document_folders())["local.documents"]
    gateway = "%s:%s" % (service.config.get("smtp", "host", "127.0.0.1"),
                         service.config.get("smtp", "port", 25))
    return service.run_worker(lambda: "outbox %d messages via %s" % (outbox_size(outbox), gateway),
                              "gateway " + gateway)


if __name__ == "__main__":
    sys.exit(main())
