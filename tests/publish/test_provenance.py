"""Provenance tells the truth: `git_dirty` of a real git checkout, and `reproducible` as
the image step recorded it, read back from a real image by the push stage's code."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from axion_build.adapters.git import source_state
from axion_build.build.images import LABEL_BASES, LABEL_INPUTS, LABEL_REPRODUCIBLE
from axion_build.config.load import load_config
from axion_build.publish.provenance import build_facts, predicate
from workspace import make_workspace, provision

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
           "PATH": "/usr/bin:/bin"}


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, env=GIT_ENV,
                   capture_output=True)


def checkout(tmp: Path, *, leave_out: str = ""):
    """The shop workspace as a git checkout of one commit (keys and build output ignored),
    with `leave_out` (a path under the root) left untracked."""
    ws = make_workspace(tmp)
    provision(ws)
    (ws.root / ".gitignore").write_text("/build/\nshop/data.config/\n")
    git(ws.root, "init", "-q")
    git(ws.root, "add", "-A")
    if leave_out:
        git(ws.root, "rm", "-q", "-r", "--cached", leave_out)
    git(ws.root, "commit", "-q", "-m", "app")
    return ws


@pytest.mark.parametrize(
    ("leave_out", "change", "dirty"),
    [
        ("", "", False),
        ("config/shop.yaml", "", True),  # the package's config untracked
        ("shop", "", True),  # the whole app tree untracked
        ("", "shop/factory.util/ObjNew.py", True),  # a new module in the app tree
        ("", "shop/data.config/other_private.pem", False),  # ignored: keys
        ("", "build/shop/linux-amd64/compiled.json", False),  # ignored: build output
        ("", "notes.txt", False),  # untracked, but not what the package is made of
    ],
)
def test_git_dirty_counts_untracked_files_of_the_app_tree_and_config(tmp_path, leave_out,
                                                                     change, dirty):
    ws = checkout(tmp_path, leave_out=leave_out)
    if change:
        (ws.root / change).parent.mkdir(parents=True, exist_ok=True)
        (ws.root / change).write_text("x = 1\n")
    commit, found = source_state(ws.config_dir, (ws.app, ws.config_file))
    assert len(commit) == 40 and found is dirty


def test_an_edited_tracked_file_is_dirty_and_no_checkout_is_unknown(tmp_path):
    ws = checkout(tmp_path / "repo")
    (ws.root / "notes.txt").write_text("n\n")
    git(ws.root, "add", "notes.txt")
    assert source_state(ws.config_dir, (ws.app, ws.config_file))[1] is True
    plain = make_workspace(tmp_path / "plain")
    assert source_state(plain.config_dir, (plain.app, plain.config_file)) == ("", None)


@pytest.mark.parametrize("reproducible", [True, False])
def test_the_predicate_says_what_the_build_recorded(reproducible):
    from axion_build.publish.provenance import BuildFacts

    facts = BuildFacts(package="shop", target="shop", platform="linux/amd64", inputs="h",
                       commit="", dirty=None, config_sha256="", toolchain={}, bases={},
                       builder="b", started="s", finished="f", reproducible=reproducible)
    assert predicate(facts)["metadata"]["reproducible"] is reproducible


@pytest.mark.e2e
@pytest.mark.parametrize("label", ["true", "false"])
def test_build_facts_read_reproducible_from_the_image_and_dirt_from_git(base_images,
                                                                        tmp_path, label):
    from axion_build.adapters import docker

    ws = checkout(tmp_path / "ws", leave_out="config/shop.yaml")
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM {base_images[0]}\n")
    tag = f"axion-test-provenance:{label}"
    docker.build_image(context, context / "Dockerfile", target=None, tags=[tag],
                       build_args={}, labels={LABEL_INPUTS: "in", LABEL_BASES: "{}",
                                              LABEL_REPRODUCIBLE: label})
    try:
        cfg = load_config(ws.config_file, environ={})
        facts = build_facts(cfg, "shop", "linux/amd64", tag, {}, ("s", "f"))
    finally:
        docker.remove_image(tag)
    assert facts.reproducible is (label == "true")
    assert facts.inputs == "in" and len(facts.commit) == 40 and facts.dirty is True
