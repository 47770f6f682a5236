"""The in-toto statement (SLSA provenance v0.2 predicate) of one pushed image (pure, but
for `config_digest` and `build_facts`, which read the config file, git and the engine)."""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

from axion_build.config.model import SECRET_OPTIONS, PackageConfig

STATEMENT_TYPE = "https://in-toto.io/Statement/v0.1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v0.2"
BUILD_TYPE = "https://axion.build/pipeline/image@v1"
REDACTED = "<redacted>"


@dataclass(frozen=True)
class BuildFacts:
    """What one image was built from and with, as the statement records it."""

    package: str
    target: str
    platform: str
    inputs: str
    commit: str
    dirty: bool | None
    config_sha256: str
    toolchain: dict
    bases: dict  # {base tag: {"id": image id, "digests": [repo digests]}}
    builder: str
    started: str
    finished: str
    reproducible: bool = False  # what the image step recorded (its label)


def redact(doc) -> None:
    """Blank every secret option of a loaded config document, in place."""
    for section, option in SECRET_OPTIONS:
        options = doc.get(section)
        if options is not None and options.get(option):
            options[option] = REDACTED


def config_digest(path: Path) -> str:
    """sha256 of the package config file with its secret values redacted."""
    from axion_build.config.load import read_yaml, yaml_rt

    doc, problems = read_yaml(path)
    if problems or doc is None:
        return ""
    redact(doc)
    out = io.StringIO()
    yaml_rt().dump(doc, out)
    return hashlib.sha256(out.getvalue().encode()).hexdigest()


def materials(facts: BuildFacts) -> list[dict]:
    """The statement's materials: the source commit and every base image."""
    found = []
    if facts.commit:
        found.append({"uri": "git+file:source", "digest": {"sha1": facts.commit}})
    for tag, base in sorted(facts.bases.items()):
        digest = {"sha256": base["id"].removeprefix("sha256:")}
        found.append({"uri": f"docker-image:{tag}", "digest": digest,
                      "annotations": {"repoDigests": base.get("digests", [])}})
    return found


def predicate(facts: BuildFacts) -> dict:
    """The SLSA provenance v0.2 predicate of one image."""
    return {
        "builder": {"id": facts.builder},
        "buildType": BUILD_TYPE,
        "invocation": {
            "configSource": ({"uri": "git+file:source", "digest": {"sha1": facts.commit},
                              "entryPoint": f"push:{facts.package}:{facts.target}"}
                             if facts.commit else {}),
            "parameters": {"package": facts.package, "target": facts.target,
                           "platform": facts.platform},
            "environment": {"git_dirty": facts.dirty},
        },
        "buildConfig": {"inputs_hash": facts.inputs, "config_sha256": facts.config_sha256,
                        "config_secrets": "redacted", "toolchain": facts.toolchain},
        "metadata": {"buildStartedOn": facts.started, "buildFinishedOn": facts.finished,
                     "completeness": {"parameters": True, "environment": False,
                                      "materials": bool(facts.commit)},
                     "reproducible": facts.reproducible},
        "materials": materials(facts),
    }


def statement(repository: str, digest: str, facts: BuildFacts) -> dict:
    """The whole in-toto statement: the image by digest, and its predicate."""
    return {"_type": STATEMENT_TYPE, "predicateType": PREDICATE_TYPE,
            "subject": [{"name": repository,
                         "digest": {"sha256": digest.removeprefix("sha256:")}}],
            "predicate": predicate(facts)}


def statement_json(repository: str, digest: str, facts: BuildFacts) -> str:
    """The statement as the JSON text written to the build folder."""
    return json.dumps(statement(repository, digest, facts), indent=1, sort_keys=True)


def build_facts(cfg: PackageConfig, target: str, platform: str, image: str,
                compiled: dict, times: tuple[str, str]) -> BuildFacts:
    """The facts of one local image: its labels, git, the config and the bases."""
    import platform as host

    import Cython

    from axion_build.adapters import docker, git
    from axion_build.build.images import LABEL_BASES, LABEL_INPUTS, LABEL_REPRODUCIBLE

    labels = (docker.inspect_image(image).get("Config") or {}).get("Labels") or {}
    bases = {}
    for tag, base_id in json.loads(labels.get(LABEL_BASES) or "{}").items():
        try:
            digests = docker.inspect_image(base_id).get("RepoDigests") or []
        except docker.DockerError:
            digests = []
        bases[tag] = {"id": base_id, "digests": sorted(digests)}
    commit, dirty = git.source_state(cfg.path.parent, (cfg.app_root, cfg.path))
    toolchain = {"kind": compiled.get("toolchain", ""),
                 "fingerprint": compiled.get("fingerprint", ""), "cython": Cython.__version__}
    return BuildFacts(package=cfg.name, target=target, platform=platform,
                      inputs=labels.get(LABEL_INPUTS, ""), commit=commit, dirty=dirty,
                      config_sha256=config_digest(cfg.path), toolchain=toolchain,
                      bases=bases, builder=f"axion-build on {host.node()}",
                      started=times[0], finished=times[1],
                      reproducible=labels.get(LABEL_REPRODUCIBLE) == "true")
