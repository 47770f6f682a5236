"""The deployment as configured: which services exist, their scripts, ports and routes."""

import os

from portmap import duplicates, health_paths, upstream_name


class ObjDeployInfo:
    """The configured services of the package, checked against the app tree."""

    def __init__(self, config, app_root):
        self.config = config
        self.app_root = app_root

    def table(self):
        """One row per service: name, script, args, port, route, health paths."""
        rows = []
        for name, spec in self.config.services().items():
            route = spec.get("route") or ""
            rows.append({
                "name": name,
                "script": spec.get("script") or "",
                "args": [str(a) for a in (spec.get("args") or [])],
                "port": spec.get("port"),
                "route": route or None,
                "health": health_paths(route) if spec.get("port") else [],
                "upstream": upstream_name(name) if spec.get("port") else None,
            })
        return rows

    def http_services(self):
        """The rows of services that listen on a port."""
        return [row for row in self.table() if row["port"]]

    def missing_scripts(self):
        """'service: script' for each service whose entry script is not in the app tree."""
        missing = []
        for row in self.table():
            script = row["script"]
            if not script or not os.path.isfile(os.path.join(self.app_root, script)):
                missing.append("%s: %s" % (row["name"], script or "(no script)"))
        return missing

    def duplicate_ports(self):
        """Ports configured for more than one service."""
        return duplicates([row["port"] for row in self.table() if row["port"]])
