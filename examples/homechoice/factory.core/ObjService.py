"""A service's life: start, serve HTTP or beat as a worker, stop cleanly on SIGTERM/SIGINT.

Signal handlers only set a flag; the main thread polls it in short sleeps, so a
stop request ends the service within a fraction of a second with exit code 0.
"""

import os
import signal
import threading
import time

from ObjConfig import ObjConfig
from ObjHttp import ServiceServer, route_prefix
from ObjLog import ObjLog

POLL_SECONDS = 0.1
DEFAULT_HEARTBEAT = 5


class ObjService:
    """One running service of the package."""

    def __init__(self, name):
        self.name = name
        self.config = ObjConfig()
        self.package = self.config.package_name()
        self.log = ObjLog(name, self.config.get("runtime", "log_level", "info"))
        self.started = time.time()
        self.stop_reason = ""
        self.port = None
        self.route = ""

    def install_signal_handlers(self):
        """Turn SIGTERM and SIGINT into a clean stop."""
        signal.signal(signal.SIGTERM, self.on_signal)
        signal.signal(signal.SIGINT, self.on_signal)

    def on_signal(self, signum, frame):
        """Record the stop request; the main loop notices it."""
        self.stop_reason = signal.Signals(signum).name

    def stopping(self):
        """Whether a stop was requested."""
        return bool(self.stop_reason)

    def sleep(self, seconds):
        """Sleep up to `seconds`, returning early when a stop is requested."""
        deadline = time.monotonic() + seconds
        while not self.stopping():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(POLL_SECONDS, left))

    def uptime(self):
        """Seconds since the service started."""
        return time.time() - self.started

    def heartbeat_seconds(self):
        """runtime.heartbeat_seconds (AXION_RUNTIME_HEARTBEAT_SECONDS), at least 0.1."""
        return max(0.1, self.config.get_number("runtime", "heartbeat_seconds",
                                                DEFAULT_HEARTBEAT))

    def configured_route(self, default):
        """This service's HTTP route from the config's services section."""
        return self.config.services().get(self.name, {}).get("route") or default

    def health(self):
        """The /health answer."""
        return {"status": "ok", "service": self.name, "package": self.package,
                "route": self.route or None, "port": self.port, "pid": os.getpid(),
                "uptime_seconds": round(self.uptime(), 1)}

    def started_line(self, detail):
        """Log the start line."""
        self.log.info("started %s (pid %d, package %s)%s" % (
            self.name, os.getpid(), self.package, ", " + detail if detail else ""))

    def stopped_line(self):
        """Log the stop line."""
        self.log.info("stopped %s on %s after %.1fs" % (
            self.name, self.stop_reason or "exit", self.uptime()))

    def run_worker(self, tick, detail=""):
        """Call `tick()` every heartbeat and log its status until stopped; exit code 0."""
        self.install_signal_handlers()
        interval = self.heartbeat_seconds()
        self.started_line("heartbeat every %gs%s" % (interval, ", " + detail if detail else ""))
        beats = 0
        while not self.stopping():
            self.sleep(interval)
            if self.stopping():
                break
            beats += 1
            try:
                status = tick()
            except Exception as exc:  # one bad tick must not stop the worker
                status = "tick failed: %s" % exc
                self.log.error(status)
            self.log.info("heartbeat %d %s" % (beats, status))
        self.stopped_line()
        return 0

    def run_http(self, port, route, handle):
        """Serve `handle(request)` on 0.0.0.0:`port` under `route` until stopped."""
        self.install_signal_handlers()
        self.port = int(port)
        self.route = route
        try:
            server = ServiceServer(("0.0.0.0", self.port), self, route, handle)
        except OSError as exc:
            self.log.error("cannot listen on 0.0.0.0:%d: %s" % (self.port, exc))
            return 1
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                                  name=self.name + "-http", daemon=True)
        thread.start()
        self.started_line("listening on 0.0.0.0:%d under %s/" % (self.port, route_prefix(route)))
        while not self.stopping():
            self.sleep(1.0)
        server.shutdown()
        server.server_close()
        self.stopped_line()
        return 0
