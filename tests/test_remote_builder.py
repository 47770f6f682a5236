"""The remote builder path: `deployment.buildx.endpoint: ssh://…` over a real SSH server.

The server is a private sshd on a loopback port; the engine behind it is this
machine's, so the test sees builds arrive through the SSH connection (the sshd log
records the session) and the images land where the context points.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from needs import missing
from workspace import make_workspace, provision, ran_tasks

pytestmark = pytest.mark.e2e

HOST_ALIAS = "axion-builder-loopback"
SSH_CONFIG = Path("/root/.ssh/config")
MARK = "# axion-build test builder"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def ssh_endpoint(tmp_path):
    """A real sshd on 127.0.0.1 accepting a fresh key for root; yields the endpoint, sshd's
    log and a builder name of its own (the docker context the run makes, removed after)."""
    if shutil.which("sshd") is None and not Path("/usr/sbin/sshd").exists():
        missing("openssh-server is not installed")
    keys = tmp_path / "ssh"
    keys.mkdir()
    for name in ("host", "client"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keys / name)],
                       check=True)
    (keys / "authorized_keys").write_text((keys / "client.pub").read_text())
    (keys / "authorized_keys").chmod(0o600)
    port = free_port()
    context = f"axt-remote-{uuid.uuid4().hex[:8]}"  # the builder's docker context: its own
    config = keys / "sshd_config"
    config.write_text(f"Port {port}\nListenAddress 127.0.0.1\nHostKey {keys / 'host'}\n"
                      f"AuthorizedKeysFile {keys / 'authorized_keys'}\nPidFile {keys / 'pid'}\n"
                      "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
                      "UsePAM no\nStrictModes no\nLogLevel VERBOSE\n")
    Path("/run/sshd").mkdir(exist_ok=True)
    log = keys / "sshd.log"
    server = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(config)],
                              stderr=log.open("w"))
    SSH_CONFIG.parent.mkdir(mode=0o700, exist_ok=True)
    before = SSH_CONFIG.read_text() if SSH_CONFIG.exists() else None
    entry = (f"\n{MARK}\nHost {HOST_ALIAS}\n  HostName 127.0.0.1\n  Port {port}\n"
             f"  User root\n  IdentityFile {keys / 'client'}\n"
             f"  UserKnownHostsFile {keys / 'known_hosts'}\n"
             "  StrictHostKeyChecking accept-new\n")
    SSH_CONFIG.write_text((before or "") + entry)
    try:
        deadline = time.time() + 10
        while time.time() < deadline:
            probe = subprocess.run(["ssh", HOST_ALIAS, "true"], capture_output=True)
            if probe.returncode == 0:
                break
            time.sleep(0.2)
        else:
            pytest.fail(f"sshd on port {port} did not accept the key:\n{log.read_text()}")
        yield f"ssh://root@{HOST_ALIAS}", log, context
    finally:
        server.terminate()
        server.wait(10)
        if before is None:
            SSH_CONFIG.unlink()
        else:
            SSH_CONFIG.write_text(before)
        # only the context the run made for this test's own builder name
        subprocess.run(["docker", "context", "rm", "-f", context], capture_output=True)


def test_images_build_on_the_engine_behind_the_ssh_endpoint(tmp_path, base_images,
                                                            ssh_endpoint):
    endpoint, log, builder = ssh_endpoint
    ws = make_workspace(tmp_path / "ws")
    provision(ws)
    env = {"AXION_DEPLOYMENT_BUILDX_BUILDER": builder,
           "AXION_DEPLOYMENT_BUILDX_ENDPOINT": endpoint}
    sessions_before = log.read_text().count("Accepted publickey")
    done = ws.doit("image:shop:stock", check=True, **env)
    assert "image:shop:stock" in ran_tasks(done.stdout) or "image:shop:stock" in done.stdout
    context = subprocess.run(["docker", "context", "inspect", builder,
                              "--format", "{{.Endpoints.docker.Host}}"],
                             capture_output=True, text=True, check=True).stdout.strip()
    assert context == endpoint
    assert log.read_text().count("Accepted publickey") > sessions_before
    labels = subprocess.run(["docker", "--context", builder, "image", "inspect",
                             "axion-shop:stock", "--format",
                             "{{index .Config.Labels \"org.axion.service\"}}"],
                            capture_output=True, text=True, check=True).stdout.strip()
    assert labels == "stock"
    clash = ws.doit("image:shop:stock", AXION_DEPLOYMENT_BUILDX_BUILDER=builder,
                    AXION_DEPLOYMENT_BUILDX_ENDPOINT="ssh://root@elsewhere.invalid")
    assert clash.returncode != 0
    assert "points at ssh://root@" in clash.stdout + clash.stderr
