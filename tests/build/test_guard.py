"""Secret guard: what counts as a finding (pure), a key compiled into a module caught in
a real image, and an image trusted only once it passed the guard (kill -9 between)."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

from axion_build.build.cc import gcc_command
from axion_build.build.compile import cythonize_one
from axion_build.config.load import load_config
from axion_build.names import candidate_tag
from axion_build.build.guard import guard_image, scan_bytes, scan_saved
from imagefs import PEM, docker_label
from workspace import ROOT, make_workspace, provision, ran_tasks

ELF = b"\x7fELF\x02\x01\x01" + b"\0" * 64
SECRET = b"s3cret-value-long"


@pytest.mark.parametrize(
    ("data", "path", "expected"),
    [
        (PEM, "/axion/resource.config/key.pem", "a PEM private key"),
        (ELF + PEM, "/usr/lib/x86_64-linux-gnu/libgnutls.so.30", ""),
        (ELF + PEM, "/lib/x86_64-linux-gnu/libvendor.so", ""),
        (ELF + PEM, "/axion/factory.core/ObjKeys.so", "a PEM private key"),
        (ELF + PEM, "/opt/venv/lib/python3.11/site-packages/x/_native.so", "a PEM private key"),
        (ELF + PEM, "/usr/local/lib/libfoo.so", "a PEM private key"),
        (ELF + SECRET, "/usr/lib/libsecret-holder.so", "a configured secret value"),
        (b"-----BEGIN PRIVATE KEY-----\nshort\n", "/axion/notes.txt", ""),
        (b"plain text", "/axion/readme.txt", ""),
    ],
)
def test_what_is_a_finding(data, path, expected):
    assert scan_bytes(data, (SECRET,), path) == expected


def compiled_module_with_key(folder: Path) -> Path:
    """A real Cython-compiled module holding a foreign private key as a string constant."""
    source = folder / "ObjKeys.py"
    source.write_text(f"KEY = {PEM.decode()!r}\n\ndef key():\n    return KEY\n")
    c_file, so_file = folder / "ObjKeys.c", folder / "ObjKeys.so"
    assert cythonize_one(source, c_file, "ObjKeys", {"language_level": 3}, shared=False) == ""
    subprocess.run(gcc_command(sysconfig.get_paths()["include"], ("-O0",), str(c_file),
                               str(so_file)), check=True, capture_output=True)
    assert so_file.read_bytes().startswith(b"\x7fELF")
    return so_file


@pytest.mark.e2e
def test_a_key_compiled_into_a_module_is_caught(base_images, tmp_path):
    compiled_module_with_key(tmp_path)
    (tmp_path / "Dockerfile").write_text(
        f"FROM {base_images[0]}\nCOPY ObjKeys.so /axion/factory.core/ObjKeys.so\n")
    tag = "axion-test-guard:compiled-key"
    subprocess.run(["docker", "build", "-q", "-t", tag, str(tmp_path)], check=True,
                   capture_output=True)
    try:
        findings = guard_image(tag, (), tmp_path / "clean.json")
        # the path taken where the engine's layer folders cannot be read (not root, remote)
        saved = scan_saved(tag, ())
    finally:
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True)
    for found in (findings, saved):
        assert [(f.place.rsplit(" ", 1)[-1], f.what) for f in found] == [
            ("/axion/factory.core/ObjKeys.so", "a PEM private key")]


KILL_AT_GUARD = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, sys.argv[1])
    import axion_build.build.images as images
    from axion_build.config.packages import PACKAGES
    # the process dies the moment the guard would start: a kill -9 at that point
    images.guard_image = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
    images.build_target(PACKAGES.get(sys.argv[2]), sys.argv[3], "linux/amd64")
""")


def candidates(tag: str) -> list[str]:
    """The tags `tag` is being built under, in any checkout (`<tag>--unguarded-<key>`)."""
    repository, name = tag.split(":")
    done = subprocess.run(["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}",
                           repository], capture_output=True, text=True, check=True)
    return [t for t in done.stdout.split() if t.startswith(f"{tag}--unguarded-")]


@pytest.mark.e2e
def test_an_image_killed_before_its_guard_is_not_up_to_date(base_images, tmp_path):
    ws = make_workspace(tmp_path, "shop")
    provision(ws)
    subprocess.run(["docker", "image", "rm", "-f", "axion-shop:stock"], capture_output=True)
    ws.doit("image:shop:context", check=True)
    killed = subprocess.run([sys.executable, "-c", KILL_AT_GUARD, str(ROOT), "shop", "stock"],
                            cwd=ws.root, env=ws.env(), capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr
    candidate = candidate_tag(load_config(ws.config_file, environ={}), "axion-shop:stock")
    assert candidate in candidates("axion-shop:stock") and docker_label(candidate)
    assert docker_label("axion-shop:stock") == ""
    again = ws.doit("image:shop:stock", check=True)
    assert "image:shop:stock" in ran_tasks(again.stdout)
    assert docker_label("axion-shop:stock") and candidate not in candidates("axion-shop:stock")
    assert ran_tasks(ws.doit("image:shop:stock", check=True).stdout) == []
