"""Cross compiling a foreign platform: the real cross gcc, the real arm64 builder's headers,
and the modules imported in the arm64 runtime image under QEMU."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from axion_build.build import toolchain as toolchains
from axion_build.build.bootstrap import emulation_available
from axion_build.build.cc import c_compile, host_command
from axion_build.build.cross import (
    CrossCompiler,
    find_cross_compiler,
    header_paths,
    missing_compiler_warning,
)
from axion_build.build.toolchain import Interpreter, Toolchain, host_interpreter, toolchain_kind
from axion_build.config.model import native_platform, tag_for_platform
from needs import needs
from workspace import make_workspace, provision, ran_tasks

HOST = host_interpreter()
ARM_SUFFIX = ".cpython-311-aarch64-linux-gnu.so"
ARM = Interpreter(python="3.11", version="3.11.2", ext_suffix=ARM_SUFFIX,
                  include="/usr/include/python3.11", machine="aarch64", libc="2.36")
CROSS = CrossCompiler("aarch64-linux-gnu-gcc", "aarch64-linux-gnu", "12.2.0", "2.36")
EM_AARCH64 = 183  # ELF e_machine of arm64 code
on_x86_64 = pytest.mark.skipif(native_platform() != "linux/amd64",
                               reason="written for an x86_64 host")
needs_cross = needs(find_cross_compiler("linux/arm64") is not None,
                    "no aarch64-linux-gnu-gcc with its libc here")


@on_x86_64
@pytest.mark.parametrize(
    ("image", "platform", "compiler", "expected"),
    [
        (HOST, "linux/amd64", None, "host"),
        (HOST, "linux/amd64", CROSS, "host"),
        (ARM, "linux/arm64", CROSS, "cross"),
        (ARM, "linux/arm64", None, "container"),
        (replace(ARM, libc="2.31"), "linux/arm64", CROSS, "container"),  # libc too new
        (replace(ARM, libc="2.41"), "linux/arm64", CROSS, "cross"),
        (replace(ARM, machine="armv7l"), "linux/arm64", CROSS, "container"),
        (replace(HOST, python="3.13"), "linux/amd64", CROSS, "container"),  # not foreign
    ],
)
def test_toolchain_kind(image, platform, compiler, expected):
    assert toolchain_kind(HOST, image, platform, compiler) == expected


def test_cross_command_line_uses_the_copied_headers():
    toolchain = Toolchain(platform="linux/arm64", kind="cross", interpreter=ARM, cross=CROSS,
                          headers="/cache/headers/abc")
    assert host_command(toolchain, ("-O2",), "a.c", "a.so") == [
        "aarch64-linux-gnu-gcc", "-shared", "-fPIC", "-O2", "-fno-strict-aliasing", "-fwrapv",
        "-I/cache/headers/abc/usr/include/python3.11", "-I/cache/headers/abc/usr/include",
        "-o", "a.so", "a.c"]
    assert header_paths(ARM.include, CROSS.target) == (
        "/usr/include/python3.11", "/usr/include/aarch64-linux-gnu/python3.11")


def test_fingerprint_names_the_kind_and_the_cross_compiler():
    cross = Toolchain(platform="linux/arm64", kind="cross", interpreter=ARM, cross=CROSS,
                      builder_id="sha256:1", headers="/h")
    container = replace(cross, kind="container", cross=None, headers="")
    newer = replace(cross, cross=replace(CROSS, version="12.3.0"))
    prints = {t.fingerprint(()) for t in (cross, container, newer,
                                          replace(cross, builder_id="sha256:2"))}
    assert len(prints) == 4
    assert replace(cross, headers="/elsewhere").fingerprint(()) == cross.fingerprint(())


def test_a_missing_cross_compiler_is_named_with_its_install_command(tmp_path):
    assert find_cross_compiler("linux/arm64", str(tmp_path)) is None
    assert find_cross_compiler("linux/riscv64") is None
    warning = missing_compiler_warning("linux/arm64")
    assert "linux/arm64 compiles in its builder image under QEMU" in warning
    assert ("'sudo apt-get install -y --no-install-recommends gcc-aarch64-linux-gnu "
            "libc6-dev-arm64-cross'") in warning
    assert missing_compiler_warning("linux/riscv64") == ""


@needs_cross
def test_the_installed_cross_compiler_says_its_target_and_libc():
    found = find_cross_compiler("linux/arm64")
    assert found.command == "aarch64-linux-gnu-gcc" and found.target == "aarch64-linux-gnu"
    assert found.machine == "aarch64"
    assert found.version.split(".")[0].isdigit() and found.libc.startswith("2.")


def elf_machine(path: Path) -> int:
    """The e_machine field of an ELF file (little-endian)."""
    head = path.read_bytes()[:20]
    assert head[:4] == b"\x7fELF", path
    return int.from_bytes(head[18:20], "little")


@needs_cross
def test_c_compile_cross_makes_an_aarch64_shared_object(tmp_path):
    source = tmp_path / "plain.c"
    source.write_text("int answer(void) { return 42; }\n")
    toolchain = Toolchain(platform="linux/arm64", kind="cross", interpreter=ARM,
                          cross=find_cross_compiler("linux/arm64"), headers=str(tmp_path))
    assert c_compile(toolchain, source, tmp_path / "plain.so", ("-O2",)) == ""
    assert elf_machine(tmp_path / "plain.so") == EM_AARCH64
    source.write_text("int answer(void) { return x; }\n")
    error = c_compile(toolchain, source, tmp_path / "broken.so", ("-O2",))
    assert "plain.c" in error and "undeclared" in error


# --- through doit: the arm64 builder's headers, QEMU only for the import ---------------

IMPORT_CART = ("import os, sys, platform; "
               "[sys.path.insert(0, d) for t in ('/axion/factory.util', '/axion/factory.shop') "
               "for d, _, _ in os.walk(t)]; "
               "import ObjCart; c = ObjCart.Cart(); c.add('tea', 2.0); "
               "print(platform.machine(), ObjCart.__file__, c.total())")


@pytest.mark.e2e
@needs_cross
@needs(emulation_available("arm64"), "no QEMU emulation for arm64")
@needs(shutil.which("docker") is not None, "no docker client")
def test_arm64_cross_compiles_and_imports_in_the_arm64_runtime(tmp_path, base_images,
                                                               monkeypatch):
    ws = make_workspace(tmp_path)
    provision(ws)
    first = ws.doit("compile:shop", "platform=linux/arm64", check=True)
    assert "compile:shop:arm64:factory.shop/ObjCart.py" in ran_tasks(first.stdout)
    assert "WARNING" not in first.stderr
    manifest = json.loads((ws.build / "linux-arm64" / "compiled.json").read_text())
    assert manifest["toolchain"] == "cross"
    compiled = ws.build / "linux-arm64" / "compiled"
    modules = sorted(compiled.rglob("*.so"))
    assert len(modules) == 4 and {elf_machine(m) for m in modules} == {EM_AARCH64}
    runtime = tag_for_platform(base_images[0], "linux/arm64")
    out = subprocess.run(["docker", "run", "--rm", "--network", "none", "--platform",
                          "linux/arm64", "-v", f"{compiled}:/axion:ro", runtime,
                          "python3", "-c", IMPORT_CART],
                         capture_output=True, text=True, check=True).stdout.split()
    assert out == ["aarch64", "/axion/factory.shop/ObjCart.so", "2.3"]
    again = ws.doit("compile:shop", "platform=linux/arm64", check=True)
    assert ran_tasks(again.stdout) == []
    # switched off, the builder image compiles under QEMU: another toolchain, all recompile
    emulated = ws.doit("compile:shop", "platform=linux/arm64", check=True,
                       AXION_COMPILE_CROSS="false")
    assert len([t for t in ran_tasks(emulated.stdout) if t.endswith(".py")]) == 3
    manifest = json.loads((ws.build / "linux-arm64" / "compiled.json").read_text())
    assert manifest["toolchain"] == "container"
    assert {elf_machine(m) for m in compiled.rglob("*.so")} == {EM_AARCH64}

    # the same choice asked directly: the headers copied, and the fallback's warning
    runtime, builder = (tag_for_platform(tag, "linux/arm64") for tag in base_images)
    chosen = toolchains.select_toolchain("linux/arm64", runtime, builder, tmp_path / "probe")
    assert chosen.kind == "cross" and chosen.warning == ""
    headers = Path(chosen.headers)
    assert (headers / "usr/include/python3.11/Python.h").is_file()
    assert (headers / "usr/include/aarch64-linux-gnu/python3.11/pyconfig.h").is_file()
    off = toolchains.select_toolchain("linux/arm64", runtime, builder, tmp_path / "probe",
                                      cross=False)
    assert (off.kind, off.warning) == ("container", "")
    monkeypatch.setattr(toolchains, "find_cross_compiler", lambda platform: None)
    missing = toolchains.select_toolchain("linux/arm64", runtime, builder, tmp_path / "probe")
    assert missing.kind == "container"
    assert missing.warning == missing_compiler_warning("linux/arm64")
