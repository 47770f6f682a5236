"""A newcomer's machine: a clean Debian 12 with only python3, git and ca-certificates (a
chroot made by debootstrap), a clone of this repo in it, the host's engine on its socket and
the registry on loopback; the README's two commands work there, after a half-made venv.

The root filesystem is cached as a tarball under $AXION_CACHE (made again when missing).
"""

from __future__ import annotations

import configparser
import hashlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from axion_build.build.bootstrap import locked, mounts_under, run_logged
from axion_build.config.model import ImageSpec
from axion_build.paths import cache_root
from needs import missing
from workspace import ROOT

PACKAGES = ("python3", "git", "ca-certificates")
SUITE = "bookworm"
SOCKET = Path("/run/docker.sock")
REGISTRY = "http://127.0.0.1:5000/v2/"
# the test command with a small, fast selection, so the suite does not run inside itself
TESTS_SELECTION = ("tests/test_layout.py", "tests/config/test_values.py")
BUILDX_PLACES = ("/usr/local/lib/docker/cli-plugins", "/usr/libexec/docker/cli-plugins",
                 "/usr/lib/docker/cli-plugins", "~/.docker/cli-plugins")
# the machine's package-index settings (INFRA.md): certificates and pip's config
CERT_VARIABLES = ("SSL_CERT_FILE", "SSL_CERT_DIR", "PIP_CERT", "REQUESTS_CA_BUNDLE",
                  "CURL_CA_BUNDLE")
PIP_CONFIGS = ("/etc/pip.conf", "/etc/xdg/pip", "~/.config/pip", "~/.pip")
PASSED_VARIABLES = ("CI", "PIP_", "SSL_", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
# apt's maintainer scripts must not start daemons: the chroot shares the host's network
POLICY_RC = "#!/bin/sh\n# no daemon starts on install in this chroot\nexit 101\n"
RUN_TIMEOUT = 2400


def buildx_plugin() -> Path | None:
    """The docker CLI's buildx plugin on this machine."""
    for place in BUILDX_PLACES:
        plugin = Path(place).expanduser() / "docker-buildx"
        if plugin.is_file():
            return plugin
    return None


def registry_answers() -> bool:
    """Whether the registry answers on loopback."""
    try:
        with urllib.request.urlopen(REGISTRY, timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def check_requirements() -> None:
    """Stop (fail under CI=true) naming what this test needs and this machine lacks."""
    if os.geteuid() != 0:
        missing("root (debootstrap, chroot and bind mounts need it)")
    for tool in ("debootstrap", "chroot", "mount", "umount", "tar", "git", "docker"):
        if shutil.which(tool) is None:
            missing(f"the {tool} command (apt-get install -y debootstrap; ./run provision)")
    if buildx_plugin() is None:
        missing("the docker buildx plugin (./run provision pipeline installs it)")
    if not SOCKET.is_socket():
        missing(f"a Docker engine on {SOCKET} (./run provision starts one)")
    if not registry_answers():
        missing(f"a registry on {REGISTRY} (./run provision starts one)")


def rootfs_tarball() -> Path:
    """The clean Debian's root filesystem as a tarball, debootstrapped when not cached."""
    mirror = ImageSpec().debian_mirror
    key = hashlib.sha256(f"{SUITE} minbase {','.join(PACKAGES)}".encode()).hexdigest()[:16]
    folder = cache_root() / "rootfs"
    tarball = folder / f"newcomer-{SUITE}-{key}.tar"
    with locked(folder / "newcomer.lock"):
        if tarball.exists():
            return tarball
        work = Path(tempfile.mkdtemp(prefix="newcomer-work-", dir=folder))
        log = folder / "newcomer-debootstrap.log"
        log.write_text("")
        try:
            run_logged(["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}",
                        SUITE, str(work), mirror], log)
            partial = tarball.with_suffix(".partial")
            run_logged(["tar", "--numeric-owner", "-C", str(work), "-cf", str(partial), "."],
                       log)
            os.replace(partial, tarball)
        finally:
            if not mounts_under(work):
                shutil.rmtree(work, ignore_errors=True)
    return tarball


def pip_settings() -> list[Path]:
    """The host's certificate and pip settings, and the local folders pip's config names."""
    paths = [Path(os.environ[name]) for name in CERT_VARIABLES if os.environ.get(name)]
    paths += [Path(place).expanduser() for place in PIP_CONFIGS]
    files = [p for p in paths if p.is_file()]
    for folder in (p for p in paths if p.is_dir()):
        files += [f for f in folder.glob("*.conf")]
    for config in (f for f in files if f.suffix == ".conf"):
        parser = configparser.ConfigParser(interpolation=None)
        parser.read(config)
        for section in parser.sections():
            for value in parser[section].values():
                for word in value.split():
                    path = Path(word.removeprefix("file://"))
                    # a local index's `simple/` pages link to files beside it
                    paths.append(path.parent if path.name == "simple" else path)
    named = [Path(v) for k, v in os.environ.items() if k.startswith("PIP_")
             for v in v.split() if v.startswith("/")]
    found = [p for p in paths + named if p.is_absolute() and p.exists()]
    return sorted(set(found))


class Chroot:
    """A root filesystem with the host's engine socket and pip settings bound into it;
    every mount is undone in reverse order."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.mounts: list[Path] = []

    def inside(self, path: Path | str) -> Path:
        """`path` of the chroot, seen from the host."""
        return self.root / str(path).lstrip("/")

    def mount(self, source: str, target: Path, *options: str, read_only: bool = False) -> None:
        """Mount `source` (a file system type for `-t`, or a path for `--bind`) on `target`."""
        if not target.exists():
            if Path(source).exists() and not Path(source).is_dir():  # a file, a socket
                target.parent.mkdir(parents=True, exist_ok=True)
                target.touch()
            else:
                target.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", *options, source, str(target)], check=True)
        self.mounts.append(target)
        if read_only:
            subprocess.run(["mount", "-o", "remount,bind,ro", str(target)], check=True)

    def set_up(self) -> None:
        """The kernel file systems, the engine's socket, the host's pip settings."""
        self.mount("proc", self.inside("/proc"), "-t", "proc")
        for kernel in ("/sys", "/dev", "/dev/pts"):
            self.mount(kernel, self.inside(kernel), "--bind")
        # /var/run is a link to /run inside: a mount on var/run would reach the host's socket
        self.mount(str(SOCKET), self.inside(SOCKET), "--bind")
        for setting in pip_settings():
            target = self.inside(setting)
            if target.is_symlink() or target.resolve() != target:
                continue  # a link inside the chroot could point out of it
            self.mount(str(setting), target, "--bind", read_only=True)

    def stop_processes(self) -> None:
        """Kill what was started inside (a process whose root is this chroot)."""
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                if os.readlink(proc / "root") == str(self.root):
                    os.kill(int(proc.name), signal.SIGKILL)
            except OSError:
                continue

    def tear_down(self) -> list[str]:
        """Unmount, in reverse order, then whatever else got mounted inside; the mounts
        that remain (none when all went well)."""
        self.stop_processes()
        time.sleep(0.5)
        for target in reversed(self.mounts):
            if subprocess.run(["umount", str(target)], capture_output=True).returncode:
                subprocess.run(["umount", "-l", str(target)], capture_output=True)
        for point in mounts_under(self.root):  # e.g. binfmt_misc, mounted by provisioning
            subprocess.run(["umount", "-l", point], capture_output=True)
        return mounts_under(self.root)

    def run(self, script: str) -> subprocess.CompletedProcess:
        """`script` run by bash inside, in a login-like environment of root's."""
        env = {k: v for k, v in os.environ.items() if k.startswith(PASSED_VARIABLES)}
        env.update(HOME="/root", LANG="C.UTF-8", TERM="dumb",
                   PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        return subprocess.run(["chroot", str(self.root), "bash", "-c", script], env=env,
                              capture_output=True, text=True, timeout=RUN_TIMEOUT)


@pytest.fixture
def newcomer() -> Iterator[Chroot]:
    """A clean Debian 12 with a clone of this repo in /root/app and the host's docker CLI."""
    check_requirements()
    tarball = rootfs_tarball()
    chroot = Chroot(Path(tempfile.mkdtemp(prefix="axion-newcomer-")))
    try:
        subprocess.run(["tar", "--numeric-owner", "-C", str(chroot.root), "-xf", str(tarball)],
                       check=True)
        chroot.set_up()
        shutil.copy(shutil.which("docker"), chroot.inside("/usr/local/bin/docker"))
        plugins = chroot.inside("/usr/local/lib/docker/cli-plugins")
        plugins.mkdir(parents=True, exist_ok=True)
        shutil.copy(buildx_plugin(), plugins / "docker-buildx")
        shutil.copy("/etc/resolv.conf", chroot.inside("/etc/resolv.conf"))
        policy = chroot.inside("/usr/sbin/policy-rc.d")
        policy.write_text(POLICY_RC)
        policy.chmod(0o755)
        subprocess.run(["git", "clone", "-q", str(ROOT), str(chroot.inside("/root/app"))],
                       check=True)
        yield chroot
    finally:
        left = chroot.tear_down()
        if not left:
            shutil.rmtree(chroot.root, ignore_errors=True)
    assert not left, f"still mounted (not deleted: {chroot.root}): {left}"


def tail(done: subprocess.CompletedProcess) -> str:
    """The end of a command's output, for an assertion message."""
    return f"exit {done.returncode}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"


def report(command: str, done: subprocess.CompletedProcess, seconds: float) -> None:
    """Print how long `command` took inside, with its provisioning steps' times."""
    print(f"\nnewcomer: {command}: {seconds:.0f} s")
    for line in done.stdout.splitlines():
        if line.startswith("provision: ") or " passed" in line:
            print(f"  {line}")


@pytest.mark.parametrize("ci", ["true", ""])
def test_what_the_machine_lacks_is_named(monkeypatch, tmp_path, ci):
    monkeypatch.setenv("CI", ci)
    monkeypatch.setenv("PATH", str(tmp_path))  # no debootstrap, nor anything else
    outcome = pytest.fail.Exception if ci else pytest.skip.Exception
    first = "the debootstrap command" if os.geteuid() == 0 else "root"
    with pytest.raises(outcome, match=first):
        check_requirements()


@pytest.mark.e2e
def test_the_readme_commands_work_on_a_clean_debian(newcomer):
    assert newcomer.run("! python3 -c 'import ensurepip' && ! command -v pip3").returncode == 0
    # the first thing a Python user tries leaves a venv without pip (no python3-venv yet)
    half = newcomer.run("cd /root/app && python3 -m venv .venv")
    assert half.returncode != 0 and "ensurepip is not" in half.stdout + half.stderr
    assert newcomer.inside("/root/app/.venv/bin/python").exists()

    started = time.monotonic()
    pipeline = newcomer.run("cd /root/app && ./run pipeline")
    report("./run pipeline", pipeline, time.monotonic() - started)
    assert pipeline.returncode == 0, tail(pipeline)
    installed = next(line for line in pipeline.stdout.splitlines() if "installing" in line)
    assert "python3-venv" in installed and "python3-dev" in installed, installed
    # the engine and the registry answer: neither is installed again
    assert "docker.io" not in installed and "docker-registry" not in installed, installed
    assert "pipeline:homechoice" in pipeline.stdout
    assert newcomer.run("/root/app/.venv/bin/python -m pip --version").returncode == 0

    started = time.monotonic()
    tests = newcomer.run(f"cd /root/app && ./run tests {' '.join(TESTS_SELECTION)}")
    report("./run tests", tests, time.monotonic() - started)
    assert tests.returncode == 0, tail(tests)
    assert " passed" in tests.stdout and "skipped" not in tests.stdout, tail(tests)
