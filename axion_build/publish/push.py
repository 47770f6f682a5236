"""Push stage: tag each image `<registry>/<namespace>/<package>-<target>` and push it.

Two tags: `latest` and an immutable tag derived from the image's inputs hash. A push
whose immutable tag the registry already holds, with `latest` on the same digest,
is up to date. Push tasks depend on the whole image stage, so nothing is pushed
from a run where any image (or compile) failed.
"""

from __future__ import annotations

import functools

from doit.exceptions import TaskFailed

from axion_build.adapters.registry import RegistryError, manifest_digest
from axion_build.build.freshness import OutsideCheck
from axion_build.build.images import (
    LABEL_INPUTS,
    engine_facts,
    every_expected,
    expected_hash,
    facts_now,
    image_targets,
)
from axion_build.build.remoteimages import registry_held
from axion_build.config.model import PackageConfig
from axion_build.names import (
    image_repository,
    image_tag,
    immutable_tag,
    repository_path,
)


def repository(cfg: PackageConfig, target: str) -> str:
    """Repository path in the registry, e.g. `axion/homechoice-report`."""
    return repository_path(cfg, target)


def push_ref(cfg: PackageConfig, target: str) -> str:
    """Image reference without tag, e.g. `127.0.0.1:5000/axion/homechoice-report`."""
    return image_repository(cfg, target)


def own_build(cfg: PackageConfig, target: str, platform: str, facts: dict) -> tuple[str, str]:
    """(image id, inputs hash) of the local image when it is this checkout's build, i.e.
    its label equals this checkout's inputs hash; ('', label) when another checkout on the
    engine rebuilt the tag since, ('', '') when it is missing."""
    have = facts.get(image_tag(cfg, target, platform)) or {}
    label = have.get("labels", {}).get(LABEL_INPUTS, "")
    if label and label == expected_hash(cfg, target, platform, facts):
        return have["id"], label
    return "", label


def local_inputs(cfg: PackageConfig, target: str, platform: str) -> str:
    """Inputs hash of this checkout's local image, else of the image the image stage found
    in the registry as this build ('' when neither)."""
    image, label = own_build(cfg, target, platform, engine_facts(cfg, platform, "push"))
    return label if image else held_image(cfg, target, platform)[0]


def held_image(cfg: PackageConfig, target: str, platform: str) -> tuple[str, str]:
    """(inputs hash, digest) of `target` when the registry holds it as this build, vouched
    for by a trusted key, and the engine not; ('', '') otherwise."""
    return registry_held(cfg, platform, every_expected(cfg, platform)).get(target, ("", ""))


class RegistryCurrent(OutsideCheck):
    """doit uptodate check: the registry holds this content under both tags, vouched for."""

    reason = "registry lacks this image's content"

    def __init__(self, cfg: PackageConfig, target: str, platform: str):
        self.cfg, self.target, self.platform = cfg, target, platform

    def check(self) -> bool:
        """True when `latest` and the immutable tag point at the same digest, and that
        digest is this build: signed, attested, its provenance naming these inputs."""
        cfg = self.cfg
        inputs = local_inputs(cfg, self.target, self.platform)
        if not inputs:
            return False
        digests = registry_digests(cfg, self.platform)
        repo = repository(cfg, self.target)
        pinned = digests.get((repo, immutable_tag(inputs)))
        if not pinned or pinned != digests.get((repo, "latest")):
            return False
        if why := vouch_problem(cfg, self.target, pinned, inputs):
            self.reason = f"registry holds {pinned[:19]}, not this build vouched for: {why}"
            return False
        return True


def vouch_problem(cfg: PackageConfig, target: str, digest: str, inputs: str) -> str:
    """Why `digest` of `target` in the registry is not this build of `inputs`, signed and
    attested by a trusted key ('' when it is)."""
    from axion_build.adapters.registry import client_for
    from axion_build.build.signkeys import trusted_keys
    from axion_build.build.vouch import image_problem

    try:
        return image_problem(client_for(cfg.registry), repository(cfg, target), digest,
                             trusted_keys(cfg), inputs)
    except RegistryError as exc:
        return str(exc)


@functools.cache
def registry_digests(cfg: PackageConfig, platform: str) -> dict[tuple[str, str], str]:
    """Digests of `latest` and of the immutable tag of every image of a package, asked
    concurrently once per run ('' for a missing tag or an unreachable registry).

    Push tasks wait for the whole image stage, so by the first push check every local
    image, and so every immutable tag, is final; each repository changes only through
    its own push, after its own check.
    """
    from concurrent.futures import ThreadPoolExecutor

    wanted = []
    for target in image_targets(cfg):
        if inputs := local_inputs(cfg, target, platform):
            repo = repository(cfg, target)
            wanted += [(repo, immutable_tag(inputs)), (repo, "latest")]

    def digest(key: tuple[str, str]) -> str:
        try:
            return manifest_digest(cfg.registry, *key)
        except RegistryError:
            return ""

    with ThreadPoolExecutor(max_workers=8) as pool:
        return dict(zip(wanted, pool.map(digest, wanted), strict=True))


def latest_is(cfg: PackageConfig, target: str, tag: str) -> bool:
    """Whether the registry holds `tag` and `latest` points at the same digest."""
    try:
        pinned = manifest_digest(cfg.registry, repository(cfg, target), tag)
        latest = manifest_digest(cfg.registry, repository(cfg, target), "latest")
    except RegistryError:
        return False
    return bool(pinned) and pinned == latest


def push_target(cfg: PackageConfig, target: str, platform: str) -> dict | TaskFailed:
    """doit action: tag and push one image under both tags."""
    from axion_build.adapters import docker, transfer
    from axion_build.publish.supply import utc_stamp

    started = utc_stamp()
    local = image_tag(cfg, target, platform)
    image, inputs = own_build(cfg, target, platform, facts_now(cfg, platform, [target]))
    ref = push_ref(cfg, target)
    held, held_digest = held_image(cfg, target, platform)
    if not image and held:
        # vouched for by a trusted key in the image stage: `latest` goes to that digest
        moved = point_latest(cfg, ref, held_digest, immutable_tag(held))
        if isinstance(moved, TaskFailed) or moved["digest"] == held_digest:
            return moved if isinstance(moved, TaskFailed) else {**moved, "signed": "yes"}
        return sign_list(cfg, ref, moved)
    if not image:
        return TaskFailed(not_ours(cfg, local, inputs))
    try:
        transfer.login(cfg.registry)
        # the image whose label was checked, whatever the tag points at by now
        digest = transfer.push_tags(image, ref, [immutable_tag(inputs), "latest"])
    except docker.DockerError as exc:
        return TaskFailed(f"push of {local} to {ref} failed: {exc}")
    print(f"pushed {ref}:{immutable_tag(inputs)} and :latest ({digest})")
    pushed = {"pushed": ref, "tag": immutable_tag(inputs), "digest": digest}
    return with_supply(cfg, target, platform, image, pushed, started)


def with_supply(cfg: PackageConfig, target: str, platform: str, image: str, pushed: dict,
                started: str) -> dict | TaskFailed:
    """The push's values with its SBOM, provenance and signature made, or why they failed
    (the image is then in the registry unsigned, and the next run signs it)."""
    from axion_build.adapters import docker
    from axion_build.adapters.cosign import CosignError
    from axion_build.publish.supply import publish_supply

    ref, digest = pushed["pushed"], pushed["digest"]
    try:
        made = publish_supply(cfg, target, platform, image, ref, digest, started)
    except (CosignError, docker.DockerError, OSError, ValueError) as exc:
        return TaskFailed(f"{ref}@{digest} was pushed but not signed: {exc}")
    print(f"signed {ref}@{digest}; SBOM and provenance attached ({made['sbom']})")
    return {**pushed, **made}


def point_latest(cfg: PackageConfig, ref: str, digest: str, tag: str) -> dict | TaskFailed:
    """The registry holds the image (built elsewhere, vouched for): move `latest` to that
    digest there, with nothing pulled or pushed through this engine."""
    from axion_build.adapters import docker, transfer

    try:
        transfer.login(cfg.registry)
        digest = transfer.create_manifest_list(ref, ["latest"], [f"{ref}@{digest}"],
                                               insecure=cfg.registry.insecure)
    except docker.DockerError as exc:
        return TaskFailed(f"pointing {ref}:latest at {tag} failed: {exc}")
    print(f"{ref}:latest now {tag} ({digest}), which the registry already held")
    return {"pushed": ref, "tag": tag, "digest": digest, "remote": True}


def sign_list(cfg: PackageConfig, ref: str, moved: dict) -> dict | TaskFailed:
    """Sign the list `latest` became over an image vouched for (its only content)."""
    from axion_build.adapters.cosign import CosignError
    from axion_build.publish.supply import sign_digest

    try:
        sign_digest(cfg, ref, moved["digest"])
    except CosignError as exc:
        return TaskFailed(f"{ref}@{moved['digest']} was made but not signed: {exc}")
    return {**moved, "signed": "yes"}


def not_ours(cfg: PackageConfig, local: str, label: str) -> str:
    """Why a local image is not pushed: missing, or rebuilt by another checkout."""
    if not label:
        return f"{local} is missing or has no build label: build it first (doit image:{cfg.name})"
    return (f"{local} now holds another build (inputs {label[:16]}), not this checkout's: "
            "another checkout on this engine rebuilt the tag; nothing pushed, run the "
            "pipeline again")

