"""Secret guard: what counts as a finding (pure), keys and secrets written into modules
caught by the pipeline's own compile stage, keys in big and packed files caught in real
images, and an image trusted only once it passed the guard (kill -9 between)."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import subprocess
import sys
import textwrap
import zipfile

import pytest

from axion_build.build.guard import guard_image, key_material, scan_bytes, scan_saved
from axion_build.build.keys import key_paths
from axion_build.build.moduleguard import source_findings
from axion_build.build.secretscan import CHUNK_BYTES, MAX_UNPACKED_BYTES, scan_stream
from axion_build.config.load import load_config
from axion_build.names import candidate_tag
from imagefs import PEM, docker_label
from workspace import ROOT, make_workspace, provision, ran_tasks

ELF = b"\x7fELF\x02\x01\x01" + b"\0" * 64
SECRET = b"s3cret-value-long"


def zipped(members: dict[str, bytes], **options) -> bytes:
    """A zip archive of `members`, deflated."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, **options) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def across_a_chunk_boundary(secret: bytes) -> bytes:
    """`secret` starting just before the end of the first chunk a file is read in."""
    return b"x" * (CHUNK_BYTES - len(secret) // 2) + secret


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
        (across_a_chunk_boundary(PEM), "/axion/big.bin", "a PEM private key"),
        (across_a_chunk_boundary(SECRET), "/axion/big.bin", "a configured secret value"),
        (gzip.compress(PEM), "/axion/key.pem.gz", "a PEM private key"),
        (bz2.compress(PEM), "/axion/key.pem.bz2", "a PEM private key"),
        (lzma.compress(PEM), "/axion/key.pem.xz", "a PEM private key"),
        (lzma.compress(gzip.compress(SECRET)), "/axion/s.gz.xz", "a configured secret value"),
        (zipped({"a.txt": b"a", "k.pem": PEM}), "/axion/k.zip",
         "a PEM private key (zip member k.pem)"),
        (gzip.compress(zipped({"k.gz": gzip.compress(PEM)})), "/axion/k.zip.gz",
         "a PEM private key (zip member k.gz)"),
        (gzip.compress(b"x") + PEM, "/axion/tail.gz", "a PEM private key"),
        (gzip.compress(b"hello " * 1000), "/usr/share/doc/x/changelog.gz", ""),
        (zipped({"a.txt": b"a"}), "/axion/clean.zip", ""),
        (gzip.compress(PEM * 4)[:60], "/axion/cut.gz",
         "a gzip file the guard cannot unpack (Compressed file ended before the "
         "end-of-stream marker was reached)"),
        (gzip.compress(gzip.compress(gzip.compress(gzip.compress(gzip.compress(b"x"))))),
         "/axion/deep.gz", "content packed more than 4 levels deep (not searched)"),
    ],
)
def test_what_is_a_finding(data, path, expected):
    assert scan_bytes(data, (SECRET,), path) == expected


def test_a_decompression_bomb_is_a_finding_never_a_pass():
    bomb = gzip.compress(b"\0" * (4 * CHUNK_BYTES))
    found = scan_stream(io.BytesIO(bomb), (SECRET,), "/axion/bomb.gz", budget=[CHUNK_BYTES])
    assert found == f"packed content over {MAX_UNPACKED_BYTES >> 20} MiB (not searched to its end)"
    assert scan_stream(io.BytesIO(bomb), (SECRET,), "/axion/bomb.gz") == ""


def test_an_encrypted_zip_member_is_a_finding():
    data = bytearray(zipped({"k.pem": b"anything"}))
    data[6] |= 0x1  # the local header's "encrypted" flag
    central = data.rindex(b"PK\x01\x02")
    data[central + 8] |= 0x1  # and the central directory's
    assert scan_bytes(bytes(data), (), "/axion/k.zip") == (
        "an encrypted zip member k.pem (cannot be searched)")


ESCAPED_PEM = repr(PEM.decode())
SPLIT_PEM = " + ".join(repr(line + "\n") for line in PEM.decode().splitlines())


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (f"KEY = {ESCAPED_PEM}\n", [(1, "a PEM private key")]),
        (f"import os\n\nKEY = ({SPLIT_PEM})\n", [(3, "a PEM private key")]),
        (f'def f():\n    """Docs."""\n    return """{PEM.decode()}"""\n',
         [(3, "a PEM private key")]),
        (f"PASSWORD = b{SECRET.decode()!r}\n", [(1, "a configured secret value")]),
        (f"# the password is {SECRET.decode()}\nx = 1\n", [(1, "a configured secret value")]),
        ("def f(:\n", []),
        ("KEY = '-----BEGIN PRIVATE KEY-----\\nshort\\n'\n", []),
        ("x = 'plain' + 'text'\n", []),
    ],
)
def test_a_module_source_holding_a_secret_is_found_by_line(source, expected):
    assert source_findings(source.encode(), (SECRET,)) == expected


@pytest.mark.e2e
def test_the_compile_stage_refuses_modules_holding_keys_or_secrets(base_images, tmp_path):
    ws = make_workspace(tmp_path)
    provision(ws)
    password = "db-pass-9c41e07b"
    with ws.config_file.open("a") as config:
        config.write(f"\ndatabase:\n  password: {password}\n")
    own = key_material(key_paths(ws.app / "data.config", "shop")[0])[1]
    util = ws.app / "factory.util"
    modules = {  # module: the line its secret is written on
        "ObjForeign.py": (f"KEY = {ESCAPED_PEM}\n", 1),
        "ObjOwnKey.py": (f"import os\n\nPART = 'x'\nBODY = {own!r} + PART\n", 4),
        "ObjDbPass.py": (f"def connect():\n    return {{'password': {password!r}}}\n", 2),
    }
    for name, (text, _) in modules.items():
        (util / name).write_text(text)
    done = ws.doit("compile:shop")
    out = done.stdout + done.stderr
    assert done.returncode != 0, out
    whats = {"ObjForeign.py": "a PEM private key", "ObjOwnKey.py": "a configured secret value",
             "ObjDbPass.py": "a configured secret value"}
    for name, (_, line) in modules.items():
        assert f"factory.util/{name} (factory.util, linux/amd64) failed to compile" in out
        assert f"shop/factory.util/{name}:{line}: secret guard: {whats[name]}" in out, out
        assert not (ws.build / "linux-amd64" / "modules" / "factory.util"
                    / name.replace(".py", ".so")).exists()
    assert password not in out and own not in out  # a finding never repeats the secret
    # the clean modules compiled; nothing of the refused ones reached a compiled tree
    assert (ws.build / "linux-amd64" / "modules" / "factory.util" / "ObjMath.so").exists()
    assert not (ws.build / "linux-amd64" / "compiled.json").exists()
    (util / "ObjForeign.py").write_text("KEY = ''\n")
    (util / "ObjOwnKey.py").unlink()
    (util / "ObjDbPass.py").write_text("def connect():\n    return {'x': 'rotated-9e1f77c2'}\n")
    assert "compile:shop:amd64" in ran_tasks(ws.doit("compile:shop", check=True).stdout)
    # a module compiled before its string became a configured secret is searched again
    ws.config_file.write_text(ws.config_file.read_text().replace(password, "rotated-9e1f77c2"))
    again = ws.doit("compile:shop")
    assert again.returncode != 0
    assert ("shop/factory.util/ObjDbPass.py:2: secret guard: a configured secret value"
            in again.stdout + again.stderr)


@pytest.mark.e2e
def test_keys_in_a_big_file_and_in_a_gzip_are_caught_in_a_real_image(base_images, tmp_path):
    big = tmp_path / "big.bin"
    with big.open("wb") as out:
        for _ in range(65):  # over 64 MiB, the size the guard used to skip
            out.write(b"\0" * (1 << 20))
        out.write(PEM)
    (tmp_path / "key.pem.gz").write_bytes(gzip.compress(PEM))
    (tmp_path / "Dockerfile").write_text(
        f"FROM {base_images[0]}\nCOPY big.bin /axion/resource.data/big.bin\n"
        "COPY key.pem.gz /axion/resource.config/key.pem.gz\n")
    tag = "axion-test-guard:big-and-packed"
    subprocess.run(["docker", "build", "-q", "-t", tag, str(tmp_path)], check=True,
                   capture_output=True)
    try:
        findings = guard_image(tag, (), tmp_path / "clean.json")
        # the path taken where the engine's layer folders cannot be read (not root, remote)
        saved = scan_saved(tag, ())
    finally:
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True)
    for found in (findings, saved):
        assert sorted((f.place.rsplit(" ", 1)[-1], f.what) for f in found) == [
            ("/axion/resource.config/key.pem.gz", "a PEM private key"),
            ("/axion/resource.data/big.bin", "a PEM private key")]


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
