"""Monitor: disk and load of the host the deployment runs on (python ServeMonitor.py)."""

import os
import sys

# Every folder of every factory set goes on sys.path: modules import each other by bare name.
APP_ROOT = os.path.dirname(os.path.abspath(__file__))
sys.path[1:1] = [folder for name in sorted(os.listdir(APP_ROOT)) if name.startswith("factory.")
                 for folder, _, _ in os.walk(os.path.join(APP_ROOT, name))
                 if os.path.basename(folder) != "__pycache__"]

import argparse  # noqa: E402
import shutil  # noqa: E402

from ObjEnvironment import ObjEnvironment  # noqa: E402
from ObjService import ObjService  # noqa: E402


def measure(home):
    """Free disk under `home` and the 1-minute load average."""
    usage = shutil.disk_usage(home)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    return "disk free %d%% of %.1f GiB, load %.2f" % (
        usage.free * 100 // usage.total, usage.total / 2.0 ** 30, load)


def main(argv=None):
    """Beat until SIGTERM with disk and load figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.parse_args(argv)
    service = ObjService("monitor")
    home = ObjEnvironment.home()
    return service.run_worker(lambda: measure(home), "watching " + home)


if __name__ == "__main__":
    sys.exit(main())
