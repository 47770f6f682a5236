"""Image stage: the wheelhouse, the build context, one image per service, the dispatcher.

An image is up to date when the engine holds its tag with a label carrying the hash
of its inputs (`image_inputs_hash`), so a no-op run asks the engine one question.
"""

from __future__ import annotations

import functools
import json

from doit.exceptions import TaskFailed

from axion_build.adapters.fs import write_if_changed
from axion_build.build.context import (
    context_dir,
    context_manifest_path,
    sha256,
    uses_ai,
    venv_builder,
    venv_platform,
)
from axion_build.build.freshness import OutsideCheck
from axion_build.build.guard import guard_image, guarded_values
from axion_build.config.flags import cache_sides
from axion_build.build.remoteimages import held_ref, login_problem, registry_held, take_held
from axion_build.config.model import PackageConfig, native_platform
from axion_build.names import (
    CADDY_TARGET,
    RUNTIME_TARGET,
    candidate_tag,
    extra_tags,
    image_repository,
    image_tag,
)

LABEL_INPUTS = "org.axion.inputs"
LABEL_BASES = "org.axion.bases"  # {base tag: image id}, to say which base changed
# "true" when built reproducibly: the provenance of a pushed image says what its build did
LABEL_REPRODUCIBLE = "org.axion.reproducible"


def image_targets(cfg: PackageConfig) -> list[str]:
    """Every image target: the dispatcher, one per service, and Caddy."""
    return [RUNTIME_TARGET, *(s.name for s in cfg.services), CADDY_TARGET]


def image_bases(cfg: PackageConfig, platform: str) -> list[str]:
    """The base images `platform`'s images stand on: its runtime, and the builder its
    venv is made in (the host's own for a foreign platform)."""
    return [cfg.images.runtime_for(platform), venv_builder(cfg, platform)]


def build_args(cfg: PackageConfig, target: str, platform: str) -> dict[str, str]:
    """The seed's build args for one target (never a secret)."""
    ai = target != RUNTIME_TARGET and uses_ai(cfg, target)
    return {
        "AXION_PACKAGE": cfg.name,
        "BASE_IMAGE": venv_builder(cfg, platform),
        "BASE_RUNTIME_IMAGE": cfg.images.runtime_for(platform),
        "REQUIREMENTS_FILE": cfg.images.requirements_file,
        "REQUIREMENTS_AI_FILE": "yes" if ai else "",
        "AXION_AI_ENABLED": "1" if ai else "0",
        "SYSTEM_BUILD_DEPS": cfg.images.system_build_deps,
        "SYSTEM_RUNTIME_DEPS": cfg.images.system_runtime_deps,
    }


def image_inputs_hash(manifest: dict, target: str, script: str, base_ids: list[str],
                      args: dict[str, str]) -> str:
    """Hash of everything one image is built from (pure).

    The shared layers' files, the Dockerfile's common section, this target's own
    section and entry script(s), the base images and the build args: editing one
    service's script changes that service's hash (and the dispatcher's) only.
    """
    files = manifest["files"]
    shared = {k: v for k, v in files.items() if not k.startswith("serve/") and k != "Dockerfile"}
    if target == RUNTIME_TARGET:
        own = {k: v for k, v in files.items() if k.startswith("serve/")}
    else:
        own = {f"serve/{script}": files[f"serve/{script}"]}
    sections = manifest["sections"]
    facts = [shared, own, sections["common"], sections[target], base_ids, args]
    return sha256(json.dumps(facts, sort_keys=True).encode())


@functools.lru_cache(maxsize=4)
def parse_manifest(text: str) -> dict:
    """The context manifest the context task wrote, parsed once per content (its users
    never change it)."""
    return json.loads(text)


def script_of(cfg: PackageConfig, target: str) -> str:
    """Entry script of a target ('' for the dispatcher and Caddy)."""
    return "" if target in (RUNTIME_TARGET, CADDY_TARGET) else cfg.service(target).script


@functools.cache
def engine_facts(cfg: PackageConfig, platform: str, stage: str = "image") -> dict:
    """One batched question to the engine: ids and labels of every image of a package.

    Asked once per stage and run: the push stage asks again, after the images it pushes
    were (re)built in this run.
    """
    return facts_now(cfg, platform)


def facts_now(cfg: PackageConfig, platform: str, targets: list[str] | None = None) -> dict:
    """Ids and labels of the images of `targets` (default: all) and of the bases their
    inputs hash needs, asked of the engine now, in one call."""
    from axion_build.adapters import docker

    tags = [image_tag(cfg, t, platform) for t in targets or image_targets(cfg)]
    return docker.image_facts([*tags, *image_bases(cfg, platform)])


def expected_hash(cfg: PackageConfig, target: str, platform: str, facts: dict) -> str:
    """The inputs hash `target`'s image must carry; '' when a base image is missing."""
    bases = image_bases(cfg, platform)
    base_ids = [facts[b]["id"] for b in bases if facts.get(b)]
    if len(base_ids) != len(bases):
        return ""
    if target == CADDY_TARGET:
        files = caddy_files(cfg, platform)
        # Caddy is also made of what the builder fetched
        return sha256(json.dumps([files, *base_ids], sort_keys=True).encode())
    manifest = context_manifest_path(cfg, platform).read_text()
    return service_inputs_hash(cfg, target, platform, tuple(base_ids), manifest)


@functools.lru_cache(maxsize=512)
def service_inputs_hash(cfg: PackageConfig, target: str, platform: str,
                        base_ids: tuple[str, ...], manifest: str) -> str:
    """`image_inputs_hash` of a target from the text of its context manifest, computed
    once per content: the image check, the push check and the registry question each ask
    it of every target, and the manifest lists every file of the app."""
    return image_inputs_hash(parse_manifest(manifest), target, script_of(cfg, target),
                             list(base_ids), build_args(cfg, target, platform))


def caddy_files(cfg: PackageConfig, platform: str) -> dict[str, str]:
    """The Caddy image's whole context: its Dockerfile and the generated Caddyfile."""
    from axion_build.deploy.caddy import caddy_image_context

    return caddy_image_context(cfg, platform,
                               (venv_platform(cfg, platform), venv_builder(cfg, platform)))


def caddy_context(cfg: PackageConfig, platform: str):
    """Write the Caddy image's context folder and return it."""
    folder = context_dir(cfg, platform).with_name("caddy-context")
    for name, text in caddy_files(cfg, platform).items():
        write_if_changed(folder / name, text)
    return folder


class ImageCurrent(OutsideCheck):
    """doit uptodate check: the engine holds this image with the expected inputs label."""

    reason = "image missing or its inputs changed"

    def __init__(self, cfg: PackageConfig, target: str, platform: str):
        self.cfg, self.target, self.platform = cfg, target, platform
        self.expected = ""

    def __call__(self, task, values) -> bool:
        """Current in the engine, or taken from the registry for these very inputs by this
        task's last run and still held there as this build, vouched for (anyone who can
        push may have replaced what the tag holds since)."""
        if self.check():
            return True
        if not self.expected or values.get("_remote") != self.expected:
            return False
        held = registry_held(self.cfg, self.platform, every_expected(self.cfg, self.platform))
        return held.get(self.target, ("", ""))[0] == self.expected

    def check(self) -> bool:
        """True when the label matches; asked once per run for all images of a package."""
        cfg = self.cfg
        facts = engine_facts(cfg, self.platform)
        have = facts.get(image_tag(cfg, self.target, self.platform))
        self.expected = expected = expected_hash(cfg, self.target, self.platform, facts)
        current = bool(have and expected) and have["labels"].get(LABEL_INPUTS) == expected
        if have and not current and (moved := moved_bases(have["labels"], facts)):
            self.reason = "base image changed: " + "; ".join(moved)
        return current


def every_expected(cfg: PackageConfig, platform: str) -> tuple[tuple[str, str], ...]:
    """(target, expected inputs hash) of every image of the package, from this stage's
    engine facts."""
    facts = engine_facts(cfg, platform)
    return tuple((t, expected_hash(cfg, t, platform, facts)) for t in image_targets(cfg))


def moved_bases(labels: dict, facts: dict) -> list[str]:
    """The bases an image was built on that now hold another image (pure)."""
    try:
        built_on = json.loads(labels.get(LABEL_BASES) or "{}")
    except ValueError:
        return []
    return [f"{tag} {old[:19]} -> {facts[tag]['id'][:19]}" for tag, old in sorted(built_on.items())
            if facts.get(tag) and facts[tag]["id"] != old]


def build_target(cfg: PackageConfig, target: str, platform: str,
                 cache: bool = True) -> dict | TaskFailed:
    """doit action: build one image (`cache`: BuildKit's build cache may serve its steps),
    then refuse it if it holds a secret."""
    from axion_build.adapters import docker

    tag = image_tag(cfg, target, platform)
    bases = image_bases(cfg, platform)
    facts = facts_now(cfg, platform, [target])
    missing = [b for b in bases if not facts.get(b)]
    if missing:
        return TaskFailed(f"base image(s) {', '.join(missing)} not found: run "
                          f"'doit base' or set images.base_image/base_runtime_image in {cfg.path}")
    inputs = expected_hash(cfg, target, platform, facts)
    if held := held_ref(cfg, target, platform, inputs, every_expected(cfg, platform)):
        return take_held(cfg, target, platform, facts, held, inputs)
    context = context_dir(cfg, platform)
    target_name: str | None = target
    if target == CADDY_TARGET:
        context, target_name = caddy_context(cfg, platform), None
    # a named builder without an endpoint is a buildx builder of this engine
    builder = cfg.deployment.builder if not cfg.deployment.endpoint else None
    # built under a candidate tag: the image's own tag (which makes it up to date) is
    # given only once the guard passed, so an interrupted build is never trusted
    candidate = candidate_tag(cfg, tag)
    pull, push = cache_sides(cfg)
    shared = platform == native_platform() and bool(cfg.registry.url)
    # the layers of the registry's `latest` may serve, when the registry lets us in
    pulling = shared and pull and not login_problem(cfg)
    from axion_build.build.reproducible import build_time

    epoch, not_reproducible = build_time(cfg)
    labels = {LABEL_INPUTS: inputs, "org.axion.package": cfg.name,
              "org.axion.service": target, "org.axion.platform": platform,
              LABEL_BASES: json.dumps({b: facts[b]["id"] for b in bases}, sort_keys=True),
              LABEL_REPRODUCIBLE: "false" if not_reproducible else "true"}
    docker.build_image(context, context / "Dockerfile", target=target_name, tags=[candidate],
                       build_args=build_args(cfg, target, platform), labels=labels,
                       platform=platform, builder=builder or None, cache=cache,
                       cache_from=[f"{image_repository(cfg, target)}:latest"]
                       if pulling else None, inline_cache=shared and push,
                       source_date_epoch=epoch)
    try:
        findings = guard_image(candidate, guarded_values(cfg),
                               cfg.build_root / "guard-clean-layers.json")
    except BaseException:
        docker.remove_image(candidate)  # a guard that could not finish passed nothing
        raise
    if findings:
        # only the candidate goes: `tag` holds an image that passed, maybe another checkout's
        docker.remove_image(candidate)
        return TaskFailed("secret guard: image removed, it must not ship:\n"
                          + "\n".join(str(f).replace(candidate, tag) for f in findings))
    for name in (tag, *extra_tags(cfg, target, platform)):
        docker.tag_image(candidate, name)
    docker.remove_image(candidate)
    size = docker.image_size(tag)
    print(f"{tag}: {size / 1e6:.1f} MB")
    made = {"image": tag, "size": size, "inputs": inputs, "reproducible": not not_reproducible}
    return {**made, "not_reproducible": not_reproducible} if not_reproducible else made
