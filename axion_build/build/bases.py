"""Base images pulled from a registry (`images.bootstrap: false`), e.g. the seed's
`python:3.12-bookworm` / `python:3.12-slim-bookworm` or bases a team keeps in its own.

A base is pulled when the engine lacks it, for each platform it is needed for; with
`pull_bases=1` (`axion pipeline --pull`) it is pulled again on purpose. A local tag
holds one architecture, so a base pulled for another platform is tagged
`<ref>-<arch>` and `<ref>` keeps what it held. The image id of every base is part of
the images' inputs hash: a tag that moved upstream rebuilds what stands on it, and the
image stage says which base changed. A base that cannot be pulled is a problem that
names the config line it came from, not a traceback.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from doit.exceptions import TaskFailed

from axion_build.build.freshness import OutsideCheck
from axion_build.config.model import PackageConfig, RegistrySpec
from axion_build.names import arch_of

# the config option each kind of base comes from
OPTIONS = {"runtime": ("images", "base_runtime_image"), "builder": ("images", "base_image")}


@dataclass(frozen=True)
class PulledBase:
    """One base image of one platform, as the config names it and as the engine keeps it."""

    kind: str  # "runtime" or "builder"
    platform: str
    ref: str  # what the config names, pulled from its registry
    local: str  # the engine's tag for this platform (`ref`, or `ref-<arch>`)
    config: Path
    registry: RegistrySpec  # the package's registry: its credentials apply to its host

    @property
    def name(self) -> str:
        """The doit sub-task name, e.g. `pull-runtime-amd64:python:3.12-slim-bookworm`."""
        return f"pull-{self.kind}-{arch_of(self.platform)}:{self.ref}"

    @property
    def option(self) -> str:
        """The config option it comes from, e.g. `images.base_runtime_image`."""
        return ".".join(OPTIONS[self.kind])


def pulled_bases(cfg: PackageConfig, platform: str) -> tuple[PulledBase, PulledBase]:
    """The runtime and builder bases a platform of a pulling package needs (pure)."""
    images = cfg.images
    return (PulledBase("runtime", platform, images.base_runtime_image,
                       images.runtime_for(platform), cfg.path, cfg.registry),
            PulledBase("builder", platform, images.base_image, images.builder_for(platform),
                       cfg.path, cfg.registry))


def registry_host(ref: str) -> str:
    """The registry part of an image reference ('' for Docker Hub's short names)."""
    first = ref.split("/", 1)[0]
    if "/" in ref and ("." in first or ":" in first or first == "localhost"):
        return first
    return ""


class BasePresent(OutsideCheck):
    """doit uptodate check: the engine holds the base for its platform (never, when the
    run was asked to pull the bases again)."""

    reason = "base image missing on this engine, or pull_bases=1 asked for a fresh pull"

    def __init__(self, base: PulledBase, refresh: bool):
        self.base, self.refresh = base, refresh

    def check(self) -> bool:
        """True when the local tag exists and no refresh was asked for."""
        from axion_build.adapters import docker

        return not self.refresh and bool(docker.image_facts([self.base.local])[self.base.local])


def pull_base(base: PulledBase) -> dict | TaskFailed:
    """doit action: pull one base for its platform; its digest and whether it moved."""
    from axion_build.adapters import docker, transfer
    from axion_build.build.bootstrap import cache_dir, locked

    lock = cache_dir() / f"pull-{hashlib.sha256(base.ref.encode()).hexdigest()[:16]}.lock"
    with locked(lock):
        before = docker.image_facts([base.local, base.ref])
        try:
            if base.registry.username and registry_host(base.ref) == base.registry.url:
                transfer.login(base.registry)
            transfer.pull(base.ref, base.platform)
        except transfer.PullError as exc:
            return TaskFailed(pull_problem(base, exc.kind, exc.detail))
        except docker.DockerError as exc:
            return TaskFailed(pull_problem(base, "unreachable", str(exc)))
        if base.local != base.ref:
            keep_native_tag(base, before.get(base.ref))
    facts = docker.inspect_image(base.local)
    previous = (before.get(base.local) or {}).get("id", "")
    digests = [d.split("@", 1)[1] for d in facts.get("RepoDigests") or ()
               if d.split("@", 1)[0] == base.ref.rsplit(":", 1)[0]]
    moved = bool(previous) and previous != facts["Id"]
    change = (f"moved: {previous[:19]} -> {facts['Id'][:19]}" if moved
              else "new on this engine" if not previous else "unchanged")
    print(f"pulled {base.ref} ({base.platform}): {change}")
    return {"image": base.ref, "platform": base.platform, "id": facts["Id"],
            "digest": digests[0] if digests else "", "previous": previous, "moved": moved}


def keep_native_tag(base: PulledBase, native: dict | None) -> None:
    """Tag what a foreign pull brought as `<ref>-<arch>`; `<ref>` gets back what it held."""
    from axion_build.adapters import docker

    docker.tag_image(base.ref, base.local)
    if native:
        docker.tag_image(native["id"], base.ref)
    else:
        docker.remove_image(base.ref)


def pull_problem(base: PulledBase, kind: str, detail: str) -> str:
    """What went wrong pulling a base, named by the config line it comes from."""
    from axion_build.config.load import read_yaml
    from axion_build.config.packages import env_snapshot
    from axion_build.config.problems import located

    doc, _ = read_yaml(base.config)
    what = {"unknown": f"{base.ref} is not an image its registry has for {base.platform}",
            "denied": f"the registry refused to give {base.ref} (credentials?)",
            "plain-http": f"the engine speaks HTTPS to the registry of {base.ref}, which "
                          "answers plain HTTP",
            "unreachable": f"cannot reach the registry of {base.ref}"}[kind]
    fix = {"unknown": "name an image the registry holds (push it there first), or set "
                      "images.bootstrap: true to make the bases here",
           "denied": "set registry.username/password (AXION_REGISTRY_PASSWORD) for that "
                     "registry, or run 'docker login' for it",
           "plain-http": "add its host to the engine's insecure-registries "
                         "(/etc/docker/daemon.json, then restart dockerd; 127.0.0.0/8 needs "
                         "none): registry.insecure cannot change how the engine pulls",
           "unreachable": "start the registry or fix the name; with no registry at all, "
                          "set images.bootstrap: true"}[kind]
    problem = located(base.config, doc or {}, env_snapshot(), OPTIONS[base.kind],
                      f"{what}: {detail}", fix)
    return f"base image not pulled, nothing built on it:\n{problem}"


def pull_tasks(cfg: PackageConfig, platforms: tuple[str, ...], refresh: bool) -> Iterator[dict]:
    """doit sub-tasks pulling the bases of a pulling package, one per base and platform."""
    for platform in platforms:
        for base in pulled_bases(cfg, platform):
            yield {
                "name": base.name,
                "doc": f"pull {base.ref} for {base.platform} ({base.option} of {cfg.name})",
                "actions": [(pull_base, [base])],
                "uptodate": [BasePresent(base, refresh)],
                "meta": {"axion": {"stage": "base", "package": cfg.name,
                                   "platform": platform}},
                "verbosity": 2,
            }

