"""A second Docker engine on this host, as a second machine: its own image store, build
cache, containerd and bridge, reached only through a docker context of its own.

Never `--bridge=none` (dockerd would delete the host's docker0): the engine gets a bridge
of its own, and with `--iptables=false` it leaves the host's firewall alone.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from needs import missing


@dataclass
class Engine:
    """A running second dockerd."""

    root: Path
    socket: Path
    context: str
    bridge: str
    process: subprocess.Popen
    rules: list[list[str]] = dataclasses.field(default_factory=list)

    def docker(self, *args: str, check: bool = True,
               input_bytes: bytes | None = None) -> subprocess.CompletedProcess:
        """The docker CLI against this engine, through its context."""
        done = subprocess.run(["docker", "--context", self.context, *args],
                              capture_output=True, timeout=600, input=input_bytes)
        done.stdout, done.stderr = (done.stdout.decode(errors="replace"),
                                    done.stderr.decode(errors="replace"))
        if check and done.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} (engine B): {done.stderr}")
        return done

    def env(self) -> dict[str, str]:
        """What sends a run's engine calls here: the context, and no DOCKER_HOST."""
        return {"DOCKER_CONTEXT": self.context}


def free_net(prefix: str) -> int:
    """An N for which no interface or route of this host uses `prefix`.N.0/24."""
    used = "".join(subprocess.run(["ip", "-o", "-4", what], capture_output=True,
                                  text=True).stdout for what in ("addr", "route"))
    for n in range(10, 250):
        if f"{prefix}.{n}." not in used:
            return n
    raise AssertionError(f"no free {prefix}.N.0/24 network")


def newer_dockerd() -> Path | None:
    """trixie's dockerd 26 that `./run provision tests` unpacks into the machine cache."""
    from axion_build.paths import cache_root

    binary = cache_root() / "engine-26" / "bin" / "dockerd"
    return binary if binary.is_file() else None


def nat_rules(bridge: str, subnet: int) -> list[list[str]]:
    """The iptables rules that let the engine's build containers reach the mirror."""
    net = f"172.30.{subnet}.0/24"
    return [["-t", "nat", "POSTROUTING", "-s", net, "!", "-o", bridge, "-j", "MASQUERADE"],
            ["FORWARD", "-i", bridge, "-j", "ACCEPT"],
            ["FORWARD", "-o", bridge, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED",
             "-j", "ACCEPT"]]


def pool_rules(pool: str) -> list[list[str]]:
    """The rules that let the containers of the engine's own networks talk to each other.

    With br_netfilter loaded, bridged traffic passes the host's FORWARD chain, whose policy
    the system engine sets to DROP; an engine with `--iptables=false` adds no rule of its own
    for its networks, so a compose stack's containers would not reach one another."""
    return [["FORWARD", "-s", pool, "-j", "ACCEPT"], ["FORWARD", "-d", pool, "-j", "ACCEPT"]]


def iptables(action: str, rule: list[str]) -> None:
    """Insert (-I) or delete (-D) one rule, the table given first as in `nat_rules`."""
    table = rule[:2] if rule[0] == "-t" else []
    chain, rest = (rule[2], rule[3:]) if table else (rule[0], rule[1:])
    subprocess.run(["iptables", *table, action, chain, *rest], check=action == "-I",
                   capture_output=True)


def start_engine(dockerd: Path | None = None, containerd_store: bool = False,
                 nat: bool = False, networks: bool = False) -> Engine:
    """Start the second engine (root only), with a docker context that reaches it.

    `dockerd`: another engine binary (its helpers beside it); `containerd_store`: images
    kept in containerd's store, as reproducible builds need; `nat`: its build
    containers reach the network (Debian's mirror), through rules removed at the stop;
    `networks`: the networks it makes (a compose project's) get addresses from a pool of
    their own, whose containers may talk to each other.
    """
    lacking = [name for name, here in (("root", os.geteuid() == 0),
                                       ("dockerd", shutil.which("dockerd")),
                                       ("ip (iproute2)", shutil.which("ip"))) if not here]
    if lacking:
        missing(f"a second Docker engine needs root, dockerd and ip; missing: "
                f"{', '.join(lacking)}")
    # short paths: containerd's sockets live under the exec root (108-byte limit)
    root = Path(tempfile.mkdtemp(prefix="axe-", dir="/tmp"))
    key = uuid.uuid4().hex[:6]
    bridge, context = f"axbr{key}", f"axion-b-{key}"
    subnet = free_net("172.30")
    subprocess.run(["ip", "link", "add", bridge, "type", "bridge"], check=True)
    subprocess.run(["ip", "addr", "add", f"172.30.{subnet}.1/24", "dev", bridge], check=True)
    subprocess.run(["ip", "link", "set", bridge, "up"], check=True)
    socket = root / "sock"
    log = (root / "dockerd.log").open("w")
    options = []
    if containerd_store:
        settings = root / "daemon.json"
        settings.write_text(json.dumps({"features": {"containerd-snapshotter": True}}))
        options = ["--config-file", str(settings)]
    rules = nat_rules(bridge, subnet) if nat else []
    if networks:
        pool = f"10.231.{free_net('10.231')}.0/24"
        options += ["--default-address-pool", f"base={pool},size=28"]
        rules += pool_rules(pool)
    env = dict(os.environ)
    if dockerd:
        env["PATH"] = f"{dockerd.parent}:{env['PATH']}"  # its docker-proxy
    process = subprocess.Popen(
        [str(dockerd or "dockerd"), *options, "--data-root", str(root / "data"),
         "--exec-root", str(root / "exec"),
         "--pidfile", str(root / "pid"), "-H", f"unix://{socket}", f"--bridge={bridge}",
         "--iptables=false"], stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        env=env)
    engine = Engine(root, socket, context, bridge, process)
    engine.rules = rules
    for rule in rules:
        iptables("-I", rule)
    deadline = time.monotonic() + 60
    while subprocess.run(["docker", "-H", f"unix://{socket}", "info"],
                         capture_output=True).returncode != 0:
        if time.monotonic() > deadline or process.poll() is not None:
            stop_engine(engine)
            pytest.fail(f"the second engine did not start:\n{(root / 'dockerd.log').read_text()}")
        time.sleep(0.5)
    subprocess.run(["docker", "context", "create", context, "--docker", f"host=unix://{socket}"],
                   check=True, capture_output=True)
    return engine


def stop_engine(engine: Engine) -> None:
    """Stop the engine and remove its bridge, context and files."""
    subprocess.run(["docker", "context", "rm", "-f", engine.context], capture_output=True)
    if engine.process.poll() is None:
        engine.process.send_signal(signal.SIGTERM)
        try:
            engine.process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(engine.process.pid, signal.SIGKILL)
            engine.process.wait(10)
    for rule in engine.rules:
        iptables("-D", rule)
    subprocess.run(["ip", "link", "del", engine.bridge], capture_output=True)
    # what dockerd left mounted (it unmounts on a clean stop)
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()
              if line.split()[1].startswith(str(engine.root))]
    for mount in sorted(mounts, reverse=True):
        subprocess.run(["umount", "-l", mount], capture_output=True)
    shutil.rmtree(engine.root, ignore_errors=True)
