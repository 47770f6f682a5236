"""The docker module against the real engine and the registry on 127.0.0.1:5000."""

from __future__ import annotations

import io
import json
import tarfile
import urllib.request
import uuid
from pathlib import Path

import pytest

from axion_build.adapters import builder, docker, transfer
from axion_build.config.model import ImageSpec, RegistrySpec, native_platform
from needs import needs
from tasks.base import base_image_tasks

pytestmark = needs(docker.engine_available(),
                   "no Docker engine answers (./run tests starts one)")

REGISTRY = "127.0.0.1:5000"
DOCKERFILE = """\
ARG BASE
FROM ${BASE} AS first
ARG GREETING
RUN echo "$GREETING" > /greeting

FROM first AS second
RUN echo second > /second
"""


@pytest.fixture(scope="module")
def runtime_base() -> str:
    """The bootstrapped runtime base image of this host (made once, cached in the engine)."""
    task = next(base_image_tasks(ImageSpec(), [native_platform()]))
    check, args = task["uptodate"][0]
    if not check(*args):
        action, action_args = task["actions"][0]
        assert action(*action_args) is None
    return task["actions"][0][1][0].tag


@pytest.fixture
def tiny_image(runtime_base, tmp_path):
    """A small image built FROM the runtime base with a build arg and labels."""
    token = uuid.uuid4().hex[:12]
    tag = f"axion-test/docker-module:{token}"
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    docker.build_image(tmp_path, tmp_path / "Dockerfile", target="first", tags=[tag],
                       build_args={"BASE": runtime_base, "GREETING": f"hello {token}"},
                       labels={"org.axion.test": token})
    yield tag, token
    docker.remove_image(tag)


def test_engine_answers():
    assert docker.engine_available() is True


def test_built_image_has_labels_build_arg_and_target(tiny_image, runtime_base):
    tag, token = tiny_image
    assert docker.image_exists(tag)
    assert docker.image_labels(tag)["org.axion.test"] == token
    assert docker.image_id(tag).startswith("sha256:")
    assert docker.image_size(tag) >= docker.image_size(runtime_base)
    assert docker.run_output(tag, ["cat", "/greeting"]).strip() == f"hello {token}"
    # target "first" stops before the second stage
    assert docker.run_output(tag, ["ls", "/"]).split().count("second") == 0
    assert any("/greeting" in step for step in docker.image_history(tag))


def test_image_facts_in_one_call(tiny_image):
    tag, token = tiny_image
    facts = docker.image_facts([tag, "axion-test/no-such-image:missing"])
    assert facts["axion-test/no-such-image:missing"] is None
    assert facts[tag]["id"] == docker.image_id(tag)
    assert facts[tag]["labels"]["org.axion.test"] == token
    assert facts[tag]["size"] == docker.image_size(tag)
    assert docker.inspect_image(tag)["Config"]["Labels"]["org.axion.test"] == token


def test_removed_image_is_gone(runtime_base, tmp_path):
    tag = f"axion-test/docker-module:rm-{uuid.uuid4().hex[:8]}"
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    docker.build_image(tmp_path, tmp_path / "Dockerfile", target="second", tags=[tag],
                       build_args={"BASE": runtime_base, "GREETING": "x"}, labels={})
    assert docker.run_output(tag, ["cat", "/second"]).strip() == "second"
    docker.remove_image(tag)
    docker.remove_image(tag)  # missing is fine
    assert not docker.image_exists(tag)
    assert docker.image_labels(tag) == {}


def test_failed_build_names_the_image(runtime_base, tmp_path):
    (tmp_path / "Dockerfile").write_text(f"FROM {runtime_base}\nRUN exit 7\n")
    with pytest.raises(docker.DockerError, match="axion-test/docker-module:broken"):
        docker.build_image(tmp_path, tmp_path / "Dockerfile", target=None,
                           tags=["axion-test/docker-module:broken"], build_args={}, labels={})
    assert not docker.image_exists("axion-test/docker-module:broken")


def tar_of(files: dict[str, str]) -> bytes:
    """An uncompressed tarball of text files."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_import_rootfs_applies_changes(tmp_path):
    tarball = tmp_path / "rootfs.tar"
    tarball.write_bytes(tar_of({"etc/motd": "imported\n"}))
    tag = f"axion-test/docker-import:{uuid.uuid4().hex[:8]}"
    try:
        docker.import_rootfs(tarball, tag, ["ENV LANG=C.UTF-8", "LABEL org.axion.test=imported"])
        inspect = docker.inspect_image(tag)
        assert "LANG=C.UTF-8" in inspect["Config"]["Env"]
        assert docker.image_labels(tag) == {"org.axion.test": "imported"}
    finally:
        docker.remove_image(tag)


def test_import_of_a_broken_tarball_fails_clearly(tmp_path):
    broken = tmp_path / "broken.tar"
    broken.write_bytes(b"not a tarball at all" * 100)
    with pytest.raises(docker.DockerError, match="broken.tar"):
        docker.import_rootfs(broken, "axion-test/docker-import:broken", [])


def test_save_image_writes_a_docker_archive(tiny_image, tmp_path):
    tag, _ = tiny_image
    archive = tmp_path / "image.tar"
    docker.save_image(tag, archive)
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
    assert manifest[0]["RepoTags"] == [tag]


def test_push_tags_reaches_the_registry_with_one_digest(tiny_image):
    tag, token = tiny_image
    ref = f"{REGISTRY}/axion-test/docker-module"
    transfer.login(RegistrySpec(url=REGISTRY))  # no credentials: nothing to do
    digest = transfer.push_tags(tag, ref, [token, "latest"])
    try:
        assert digest.startswith("sha256:")
        for name in (token, "latest"):
            request = urllib.request.Request(
                f"http://{REGISTRY}/v2/axion-test/docker-module/manifests/{name}", method="HEAD",
                headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"})
            with urllib.request.urlopen(request, timeout=10) as answer:
                assert answer.headers["Docker-Content-Digest"] == digest
    finally:
        for name in (token, "latest"):
            docker.remove_image(f"{ref}:{name}")


def test_compile_in_image_mounts_source_and_output(runtime_base, tmp_path: Path):
    source = tmp_path / "src" / "module.txt"
    source.parent.mkdir()
    source.write_text("payload\n")
    out = tmp_path / "out" / "module.out"
    ok, output, code = builder.compile_in_image(
        runtime_base, native_platform(), source, out,
        ["sh", "-c", "cp /in/module.txt /out/module.out"])
    assert ok and code == 0, output
    assert out.read_text() == "payload\n"
    failed, output, code = builder.compile_in_image(
        runtime_base, native_platform(), source, out, ["sh", "-c", "echo broken >&2; exit 1"])
    assert not failed and "broken" in output and code != 0
    # a compiler stopped by Ctrl-C in the container: docker run says 130
    _, _, code = builder.compile_in_image(runtime_base, native_platform(), source, out,
                                          ["sh", "-c", "kill -INT $$"])
    assert code == 130


def test_copy_from_image_copies_what_it_has_without_running_it(tiny_image, tmp_path: Path):
    tag, token = tiny_image
    copied = builder.copy_from_image(tag, native_platform(), ("/greeting", "/etc/os-release.d",
                                                             "/usr/lib/os-release"), tmp_path)
    assert copied == ["/greeting", "/usr/lib/os-release"]
    assert (tmp_path / "greeting").read_text() == f"hello {token}\n"
    assert "ID=debian" in (tmp_path / "usr" / "lib" / "os-release").read_text()
    assert not (tmp_path / "etc" / "os-release.d").exists()
    # the container it made is gone
    assert docker.docker_cli(["ps", "-aq", "--filter", f"ancestor={tag}"]).stdout.split() == []
