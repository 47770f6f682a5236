"""Scheduler: tells when each periodic job runs next (python ServeScheduler.py service)."""

import os
import sys

# Every folder of every factory set goes on sys.path: modules import each other by bare name.
APP_ROOT = os.path.dirname(os.path.abspath(__file__))
sys.path[1:1] = [folder for name in sorted(os.listdir(APP_ROOT)) if name.startswith("factory.")
                 for folder, _, _ in os.walk(os.path.join(APP_ROOT, name))
                 if os.path.basename(folder) != "__pycache__"]

import argparse  # noqa: E402
import time  # noqa: E402

from ObjService import ObjService  # noqa: E402

# job name -> period in seconds
JOBS = (("archive-sweep", 3600), ("report-mail", 86400), ("import-retry", 900))


def next_due(now):
    """(job, seconds until it is due) for the job due soonest after `now`."""
    waits = [(period - int(now) % period, job) for job, period in JOBS]
    wait, job = min(waits)
    return job, wait


def main(argv=None):
    """Beat until SIGTERM, naming the next job due."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["service"])
    parser.parse_args(argv)
    service = ObjService("scheduler")

    def tick():
        job, wait = next_due(time.time())
        return "next %s in %ds" % (job, wait)

    return service.run_worker(tick, "%d jobs" % len(JOBS))


if __name__ == "__main__":
    sys.exit(main())
