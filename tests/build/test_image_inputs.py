"""Image inputs: the hash every image check expects is the inputs hash of the context
manifest as it is on disk, also when the manifest is read again after a rewrite."""

from __future__ import annotations

import json

from axion_build.build.context import context_manifest_path
from axion_build.build.images import build_args, expected_hash, image_inputs_hash, script_of
from axion_build.config.load import load_config
from axion_build.names import RUNTIME_TARGET
from workspace import make_workspace

PLATFORM = "linux/amd64"


def manifest_of(module_digest: str, services: list[str], scripts: list[str]) -> dict:
    """A context manifest with one compiled module and the services' entry scripts."""
    files = {"Dockerfile": "d0", "app/factory.core/ObjConfig.so": module_digest,
             **{f"serve/{script}": f"s-{script}" for script in scripts}}
    sections = {"common": "c1", RUNTIME_TARGET: "x1", **{name: f"t-{name}" for name in services}}
    return {"files": files, "sections": sections}


def test_expected_hash_follows_the_manifest_on_disk(tmp_path):
    ws = make_workspace(tmp_path)
    cfg = load_config(ws.config_file, {})
    services = [s.name for s in cfg.services]
    scripts = [s.script for s in cfg.services]
    bases = [cfg.images.runtime_for(PLATFORM), cfg.images.builder_for(PLATFORM)]
    facts = {bases[0]: {"id": "runtime-id"}, bases[1]: {"id": "builder-id"}}
    path = context_manifest_path(cfg, PLATFORM)
    path.parent.mkdir(parents=True, exist_ok=True)
    seen = {}
    for digest in ("a1", "a2", "a1"):
        manifest = manifest_of(digest, services, scripts)
        path.write_text(json.dumps(manifest))
        for target in (RUNTIME_TARGET, *services):
            expected = image_inputs_hash(manifest, target, script_of(cfg, target),
                                         ["runtime-id", "builder-id"],
                                         build_args(cfg, target, PLATFORM))
            assert expected_hash(cfg, target, PLATFORM, facts) == expected
            seen.setdefault(target, set()).add(expected)
    assert all(len(hashes) == 2 for hashes in seen.values())
