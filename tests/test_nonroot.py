"""A user who is not root, with access to a running Docker engine, provisions and runs the
pipeline: the venv (in the checkout) and the caches are the user's own, nothing needs a
system folder, and the engine already running is used as it is."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from needs import missing
from workspace import FIXTURES, copy_checkout

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def user() -> Iterator[pwd.struct_passwd]:
    """A plain user of its own (a name no one else has) in the group that may use the
    engine's socket; removed, with its home, when the tests end."""
    if os.geteuid() != 0 or shutil.which("useradd") is None or shutil.which("userdel") is None:
        missing("making a second user needs root, useradd and userdel")
    socket = Path("/var/run/docker.sock")
    if not socket.exists():
        missing("the engine is not on the default socket")
    name = f"axt-user-{uuid.uuid4().hex[:8]}"
    subprocess.run(["useradd", "--create-home", "--gid", "users", "--groups",
                    str(socket.stat().st_gid), name], check=True)
    try:
        yield pwd.getpwnam(name)
    finally:
        # its processes first: userdel refuses a user that still runs something
        subprocess.run(["pkill", "-KILL", "-u", name], capture_output=True)
        removed = subprocess.run(["userdel", "--remove", name], capture_output=True, text=True)
        left = subprocess.run(["id", name], capture_output=True).returncode == 0
        assert not left, f"user {name} is left behind: {removed.stderr}"


def as_user(user: pwd.struct_passwd, command: list[str], cwd: Path):
    """`command` run as `user` with a login-like environment: the system's PATH, none of
    this shell's AXION_* (the machine's pip and certificate settings stay)."""
    env = {k: v for k, v in os.environ.items()
           if k.startswith(("PIP_", "SSL_", "REQUESTS_", "CURL_")) or k == "DOCKER_HOST"}
    env.update(HOME=user.pw_dir, USER=user.pw_name, LANG="C.UTF-8",
               PATH="/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
    return subprocess.run(["runuser", "-u", user.pw_name, "--", *command], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=1500)


def test_the_user_is_made_for_these_tests_and_may_use_the_engine(user):
    """A name of its own, in the engine's group only for these tests (the teardown removes
    the account and checks it is gone)."""
    assert user.pw_name.startswith("axt-user-") and user.pw_name != "axion-user"
    done = as_user(user, ["docker", "version", "--format", "{{.Server.Version}}"], Path("/"))
    assert done.returncode == 0 and done.stdout.strip(), done.stderr


def test_a_user_who_is_not_root_runs_the_pipeline(user, base_images):
    home = Path(user.pw_dir)
    shutil.rmtree(home / ".cache" / "axion-build", ignore_errors=True)
    repo = Path(tempfile.mkdtemp(prefix="axion-user-repo-"))
    try:
        copy_checkout(repo)
        for config in (repo / "config").glob("*.yaml"):
            config.unlink()
        shutil.copytree(FIXTURES / "shop", repo / "apps" / "shop")
        text = (FIXTURES / "shop-config" / "shop.yaml").read_text()
        (repo / "config" / "shop.yaml").write_text(
            text.replace("app_root: ../shop", "app_root: ../apps/shop"))
        subprocess.run(["chown", "-R", f"{user.pw_uid}:{user.pw_gid}", str(repo)], check=True)

        provisioned = as_user(user, ["scripts/provision.sh", "pipeline"], repo)
        assert provisioned.returncode == 0, provisioned.stdout + provisioned.stderr
        assert "docker engine (running)" in provisioned.stdout
        cache = home / ".cache" / "axion-build"
        axion = str(repo / ".venv" / "bin" / "axion")
        keys = as_user(user, [axion, "keys", "shop"], repo)
        assert keys.returncode == 0, keys.stdout + keys.stderr
        done = as_user(user, [axion, "pipeline", "shop", "--skip-push"], repo / "apps" / "shop")
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert "image:shop:stock" in done.stdout
        records = repo / "build" / "records.sqlite3"
        assert records.stat().st_uid == user.pw_uid
        # the user's own cache holds what the run cached (ccache of the host compiles)
        assert (cache / "ccache").is_dir() and cache.stat().st_uid == user.pw_uid
        again = as_user(user, [axion, "pipeline", "shop", "--skip-push"], repo)
        assert again.returncode == 0 and ".  image:" not in again.stdout, again.stdout
    finally:
        shutil.rmtree(repo, ignore_errors=True)
