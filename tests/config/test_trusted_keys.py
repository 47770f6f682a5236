"""`cache.trusted_keys`: public key files a checkout accepts signatures of besides its own
cosign key. validate names a listed file that is missing, not a key, or a private key,
at the item's own line; a good list parses to paths relative to the config file."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from axion_build.build.signkeys import trusted_keys
from axion_build.config.load import load_config
from axion_build.config.validate import validate_file
from workspace import make_workspace, provision


@pytest.fixture
def ws(tmp_path):
    workspace = make_workspace(tmp_path)
    provision(workspace)
    key = ec.generate_private_key(ec.SECP256R1())
    keys = workspace.config_dir / "keys"
    keys.mkdir()
    (keys / "ci.pub").write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    (keys / "ci.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return workspace


def listing(ws, *items: str) -> None:
    with ws.config_file.open("a") as config:
        config.write("\ncache:\n  trusted_keys:\n" + "".join(f"    - {i}\n" for i in items))


def test_listed_public_keys_are_trusted_beside_the_packages_own(ws, monkeypatch):
    monkeypatch.chdir(ws.root)
    listing(ws, "keys/ci.pub")
    assert validate_file(Path("config/shop.yaml"), environ={}) == []
    cfg = load_config(Path("config/shop.yaml"), environ={})
    assert [p.name for p in cfg.cache.trusted_keys] == ["ci.pub"]
    assert cfg.cache.trusted_keys[0].is_file()
    # the package has no cosign pair in this workspace: CI's key is the only one
    assert [Path(k.source).name for k in trusted_keys(cfg)] == ["ci.pub"]


def test_a_missing_private_or_unreadable_key_is_named_at_its_line(ws, monkeypatch):
    monkeypatch.chdir(ws.root)
    (ws.config_dir / "keys" / "notes.pub").write_text("not a key\n")
    listing(ws, "keys/ci.pub", "keys/ci.key", "keys/absent.pub", "keys/notes.pub")
    lines = ws.config_file.read_text().splitlines()
    problems = validate_file(Path("config/shop.yaml"), environ={})
    assert [p.field for p in problems] == ["cache.trusted_keys"] * 3
    assert [p.line for p in problems] == [lines.index(f"    - keys/{n}") + 1
                                          for n in ("ci.key", "absent.pub", "notes.pub")]
    text = "\n".join(map(str, problems))
    assert "ci.key holds a private key: list public keys only" in text
    assert "absent.pub: cannot read it" in text and "notes.pub is not a PEM public key" in text
    assert "list cosign public keys (.pub files), relative to this config file" in text


@pytest.mark.parametrize("half", ["shop_private.pem", "shop_public.pem", "shop_cosign.key"])
def test_keys_refuse_a_key_path_that_is_a_folder(tmp_path, half):
    """`axion keys` reports a folder where a key goes, and writes nothing."""
    workspace = make_workspace(tmp_path)
    folder = workspace.app / "data.config"
    (folder / half).mkdir(parents=True)
    done = workspace.doit("keys:shop", "keys:shop:cosign")
    assert done.returncode != 0
    assert f"data.config/{half} is not a file; a key goes there: move it away" in (
        done.stdout + done.stderr)
    assert (folder / half).is_dir() and not any((folder / half).iterdir())
    pair = {"shop_private.pem", "shop_public.pem"} if half.endswith(".pem") else {
        "shop_cosign.key", "shop_cosign.pub"}
    assert not pair - {half} & {p.name for p in folder.iterdir()}  # no half pair made
