"""Log lines on stdout, line-buffered: '<UTC time> <LEVEL> <service>: <message>'."""

import sys
import threading
import time

LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}


def format_line(stamp, level, service, message):
    """One log line (no trailing newline)."""
    return "%s %s %s: %s" % (stamp, level.upper(), service, message)


class ObjLog:
    """A service's logger; lines reach stdout immediately, whole, from any thread."""

    def __init__(self, service, level="info"):
        self.service = service
        self.threshold = LEVELS.get(str(level).lower(), LEVELS["info"])
        self.lock = threading.Lock()
        reconfigure = getattr(sys.stdout, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(line_buffering=True)

    def write(self, level, message):
        """Write `message` at `level` when the level is at or above the threshold."""
        if LEVELS.get(level, LEVELS["info"]) < self.threshold:
            return
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        line = format_line(stamp, level, self.service, message)
        with self.lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    def debug(self, message):
        """Write a debug line."""
        self.write("debug", message)

    def info(self, message):
        """Write an info line."""
        self.write("info", message)

    def warning(self, message):
        """Write a warning line."""
        self.write("warning", message)

    def error(self, message):
        """Write an error line."""
        self.write("error", message)
