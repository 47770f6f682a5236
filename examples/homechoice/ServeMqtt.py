"""MQTT: device message bridge (python ServeMqtt.py main).

The broker is set with AXION_MQTT_HOST / AXION_MQTT_PORT; without one the
bridge stays idle and says so on each heartbeat.
"""

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
    """Beat until SIGTERM, reporting the broker it bridges."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["main"])
    parser.parse_args(argv)
    service = ObjService("mqtt")
    host = service.config.get("mqtt", "host", "")
    port = service.config.get("mqtt", "port", 1883)
    broker = "%s:%s" % (host, port) if host else "no broker configured, idle"
    return service.run_worker(lambda: "broker " + broker)


if __name__ == "__main__":
    sys.exit(main())
