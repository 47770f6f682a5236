"""Bootstrapped base images shared through the registry: a machine that lacks one pulls
what another machine made from the same recipe, instead of bootstrapping it again.

Each base is pushed as `<registry>/<namespace>/axion.bases/<kind>:<suite>-<arch>-<recipe>`.
A pulled base keeps its image id (the id is the digest of its config, which the push
carries), so every inputs hash built on it is the same on every machine. It is taken only
when the manifest under its tag carries a signature by a key this checkout trusts (the
package's cosign key, `cache.trusted_keys`), pulled by the digest that passed, and counts
only when its recipe label is the recipe asked for. A base pushed from here is signed
with the package's key; without that key none is pushed. Any failure means a local
bootstrap (and a warning), never a failed build.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from axion_build.adapters.cosign import CosignError
from axion_build.adapters.insign import SigningJob
from axion_build.adapters.registry import RegistryError, client_for
from axion_build.adapters.signatures import read_manifest, signer
from axion_build.build.signkeys import sign_in_process
from axion_build.config.model import PackageConfig, RegistrySpec
from axion_build.config.publickeys import PublicKey, readable_keys


@dataclass(frozen=True)
class BaseShare:
    """Where bases are shared, whether this run takes from and gives to it, the public
    keys it trusts and the key it signs with."""

    registry: RegistrySpec
    pull: bool
    push: bool
    trusted: tuple[Path, ...] = ()
    signing_key: Path | None = None
    cfg: PackageConfig | None = None  # the package whose cosign key signs a pushed base

    def can_sign(self) -> bool:
        """Whether the package's cosign key is there to sign a pushed base with."""
        return (self.cfg is not None and self.signing_key is not None
                and self.signing_key.is_file())

    def keys(self) -> tuple[PublicKey, ...]:
        """The trusted keys that can be read (validate names the others)."""
        return readable_keys(self.trusted)


def share_of(cfg) -> BaseShare | None:
    """The package's registry as a base share (None when the cache is off both ways)."""
    from axion_build.build.signkeys import cosign_key_paths, key_folder
    from axion_build.config.flags import cache_sides

    pull, push = cache_sides(cfg)
    if not (pull or push) or not cfg.registry.url:
        return None
    private, public = cosign_key_paths(key_folder(cfg), cfg.name)
    return BaseShare(cfg.registry, pull, push, (public, *cfg.cache.trusted_keys), private, cfg)


def split_ref(ref: str) -> tuple[str, str]:
    """(repository path, tag) of a shared base's reference."""
    repository, tag = ref.split("/", 1)[1].rsplit(":", 1)
    return repository, tag


def vouched_digest(share: BaseShare, ref: str) -> tuple[str, str]:
    """(digest, '') of the manifest under `ref` when a trusted key signed it; ('', why not),
    ('', '') when the registry does not hold it. RegistryError when it cannot be asked."""
    repository, tag = split_ref(ref)
    client = client_for(share.registry)
    manifest, digest = read_manifest(client, repository, tag)
    if not manifest:
        return "", ""
    key, why = signer(client, repository, digest, share.keys())
    return (digest, "") if key is not None else ("", why)


def shared_ref(registry: RegistrySpec, kind: str, suite: str, arch: str, recipe: str) -> str:
    """The registry reference of one bootstrapped base."""
    namespace = registry.namespace.strip("/")
    path = "/".join(filter(None, [registry.url.strip("/"), namespace, "axion.bases", kind]))
    return f"{path}:{suite}-{arch}-{recipe[:16]}"


def warn(text: str) -> None:
    """One warning line of the base stage."""
    print(f"axion: WARNING: registry cache: {text}", file=sys.stderr, flush=True)


def take_base(image, share: BaseShare | None, label: str) -> bool:
    """Pull `image` from the share and tag it; whether it is now here with its recipe."""
    from axion_build.adapters import docker, transfer

    if share is None or not share.pull:
        return False
    tagged = shared_ref(share.registry, image.kind, image.suite, image.arch, image.recipe)
    try:
        digest, why = vouched_digest(share, tagged)
    except RegistryError as exc:
        warn(f"cannot read {tagged} ({exc}); bootstrapping here")
        return False
    if not digest:
        if why:
            warn(f"{tagged} is not used ({why}); bootstrapping here")
        return False
    ref = f"{tagged.rsplit(':', 1)[0]}@{digest}"  # what was checked is what is pulled
    try:
        transfer.login(share.registry)
        transfer.pull(ref, image.platform)
    except docker.DockerError as exc:
        if getattr(exc, "kind", "") != "unknown":
            warn(f"cannot pull {ref} ({exc}); bootstrapping here")
        return False
    try:
        # by digest: read its own labels (a lookup by tag would not find it)
        labels = (docker.inspect_image(ref).get("Config") or {}).get("Labels") or {}
        if labels.get(label) != image.recipe:
            warn(f"{ref} is not made from recipe {image.recipe[:16]}; bootstrapping here")
            return False
        docker.tag_image(ref, image.tag)
    finally:
        docker.remove_image(ref)
    print(f"bootstrap: {image.tag} pulled from {tagged}")
    return True


def registry_has(share: BaseShare, image) -> bool:
    """Whether the share holds `image`'s recipe signed by a trusted key (True when it
    cannot be asked: a base here is never remade because the registry is away)."""
    ref = shared_ref(share.registry, image.kind, image.suite, image.arch, image.recipe)
    try:
        return bool(vouched_digest(share, ref)[0])
    except RegistryError:
        return True


class BaseShared:
    """doit uptodate check: a run that gives to the registry finds the base there."""

    reason = "the registry cache lacks this base"

    def __init__(self, image, share: BaseShare | None):
        self.image, self.share = image, share

    def __repr__(self) -> str:
        return f"BaseShared ({self.reason})"

    def __call__(self) -> bool:
        """True unless this run pushes (and can sign) bases and the registry lacks this one."""
        share = self.share
        return (share is None or not share.push or not share.can_sign()
                or registry_has(share, self.image))


def give_base(image, share: BaseShare | None) -> None:
    """Push a base bootstrapped here, for the machines that lack it, signed with the
    package's key."""
    from axion_build.adapters import docker, transfer

    if share is None or not share.push or registry_has(share, image):
        return
    ref = shared_ref(share.registry, image.kind, image.suite, image.arch, image.recipe)
    if not share.can_sign():
        warn(f"no cosign key {share.signing_key} to sign {ref} with: not pushed, other "
             "machines bootstrap it themselves")
        return
    try:
        transfer.login(share.registry)
        docker.tag_image(image.tag, ref)
        digest = transfer.push_tags(ref, ref.rsplit(":", 1)[0], [ref.rsplit(":", 1)[1]])
        sign_in_process(share.cfg, [SigningJob(ref.rsplit(":", 1)[0], digest)])
    except (docker.DockerError, CosignError) as exc:
        warn(f"cannot push or sign {ref} ({exc}); other machines bootstrap it themselves")
    finally:
        docker.remove_image(ref)
