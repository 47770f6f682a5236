"""The image stage: wheelhouse, build context and one image per target, per platform."""

from __future__ import annotations

from collections.abc import Iterator

from doit.exceptions import TaskFailed
from doit.tools import config_changed

from axion_build.build.compile import manifest_path, target_platforms
from axion_build.build.context import (
    app_dir,
    context_manifest_path,
    context_settings,
    image_base_deps,
    source_inputs,
    write_context,
)
from axion_build.build.freshness import REFRESH_STAMPS
from axion_build.build.images import (
    ImageCurrent,
    build_target,
    image_targets,
)
from axion_build.build.wheelhouse import fill_platform_wheelhouse, wheelhouse_stamp
from axion_build.config.flags import current_flags
from axion_build.config.model import PackageConfig, native_platform
from axion_build.config.packages import PACKAGES
from axion_build.names import arch_of, image_tag
from axion_build.publish.multiarch import ManifestCurrent, is_multiarch, publish_manifest
from axion_build.publish.push import push_ref
from axion_build.render import template_files


def meta(cfg: PackageConfig, platform: str, **extra: str) -> dict:
    """The `meta` every image task carries for the build records."""
    return {"axion": {"stage": "image", "package": cfg.name, "platform": platform, **extra}}


def platform_tasks(cfg: PackageConfig, platform: str, suffix: str,
                   cache: bool = True) -> Iterator[dict]:
    """Wheelhouse, context and images of one platform (`cache`: BuildKit's may serve)."""
    requirement_files = [cfg.app_root / cfg.images.requirements_file,
                         cfg.app_root / cfg.images.requirements_ai_file,
                         cfg.app_root / cfg.images.arm_exclude_file]
    wheels_name = f"{cfg.name}:wheelhouse{suffix}"
    yield {
        "name": wheels_name,
        "actions": [(fill_platform_wheelhouse, [cfg, platform])],
        "file_dep": [str(p) for p in requirement_files if p.is_file()],
        "targets": [str(wheelhouse_stamp(cfg, platform))],
        "uptodate": [REFRESH_STAMPS],
        "task_dep": [f"validate:{cfg.name}", *image_base_deps(cfg, platform)],
        "meta": meta(cfg, platform),
    }
    context_name = f"{cfg.name}:context{suffix}"
    yield {
        "name": context_name,
        "actions": [(write_context, [cfg, platform])],
        "file_dep": [str(manifest_path(cfg, platform)), str(wheelhouse_stamp(cfg, platform)),
                     *source_inputs(cfg),
                     *(str(p) for p in template_files("dockerfiles"))],
        "targets": [str(context_manifest_path(cfg, platform)), str(app_dir(cfg, platform))],
        "uptodate": [config_changed(context_settings(cfg, platform)), REFRESH_STAMPS],
        "meta": meta(cfg, platform),
    }
    for target in image_targets(cfg):
        yield {
            "name": f"{cfg.name}:{target}{suffix}",
            "actions": [(build_target, [cfg, target, platform, cache])],
            "uptodate": [ImageCurrent(cfg, target, platform)],
            "task_dep": [f"image:{context_name}", *image_base_deps(cfg, platform)],
            "meta": meta(cfg, platform, service=target, tag=image_tag(cfg, target, platform)),
            "verbosity": 1,
        }


def unknown_service(cfg: PackageConfig, service: str) -> str:
    """Why `--service <service>` cannot run for `cfg` ('' when it names one of its images)."""
    targets = image_targets(cfg)
    if not service or service in targets:
        return ""
    return (f"--service {service}: {cfg.name} has no service {service!r} ({cfg.path}); its "
            f"images: {', '.join(targets)}")


def refuse(why: str) -> TaskFailed:
    """doit action of a task that must not run: it fails saying why."""
    return TaskFailed(why)


def refusal(name: str, stage: str, cfg: PackageConfig, why: str) -> dict:
    """A task that stands where an unknown service's task would, and fails saying why."""
    return {"name": name, "actions": [(refuse, [why])],
            "meta": {"axion": {"stage": stage, "package": cfg.name}}}


def task_image() -> Iterator[dict]:
    """Build each package's images: the shared runtime, one thin image per service."""
    flags = current_flags()
    for cfg in PACKAGES.valid():
        if why := unknown_service(cfg, flags.service):
            for name in (f"{cfg.name}:{flags.service}", f"{cfg.name}:{flags.service}:manifest"):
                yield refusal(name, "image", cfg, why)
        if cfg.deployment.endpoint:
            from axion_build.adapters import docker

            # every engine call of the run (builds, checks, pushes) goes to the builder
            docker.use_remote_engine(cfg.deployment.builder or f"axion-{cfg.name}",
                                     cfg.deployment.endpoint)
        platforms = target_platforms(cfg)
        built = []
        for platform in platforms:
            suffix = "" if platform == native_platform() else f"-{arch_of(platform)}"
            for task in platform_tasks(cfg, platform, suffix, not flags.no_build_cache):
                built.append(f"image:{task['name']}")
                yield task
        yield {
            "name": f"{cfg.name}:build",
            "doc": f"build every image of {cfg.name} for {', '.join(platforms)}",
            "actions": None,
            "task_dep": built,
            "meta": {"axion": {"stage": "image", "package": cfg.name}},
        }
        published = []
        if is_multiarch(platforms) and not flags.skip_push:
            targets = image_targets(cfg)
            if flags.service in targets:
                targets = [flags.service]
            for task in manifest_tasks(cfg, platforms, targets):
                published.append(f"image:{task['name']}")
                yield task
        yield {
            "name": cfg.name,
            "doc": f"build every image of {cfg.name}"
                   + (" and publish the manifest lists" if published else ""),
            "actions": None,
            "task_dep": [f"image:{cfg.name}:build", *published],
            "meta": {"axion": {"stage": "image", "package": cfg.name}},
        }


def manifest_tasks(cfg: PackageConfig, platforms: tuple[str, ...],
                   targets: list[str]) -> Iterator[dict]:
    """One publishing task per image target, after every platform's image of it."""
    for target in targets:
        built = [f"image:{cfg.name}:{target}"
                 + ("" if p == native_platform() else f"-{arch_of(p)}") for p in platforms]
        yield {
            "name": f"{cfg.name}:{target}:manifest",
            "actions": [(publish_manifest, [cfg, target, platforms])],
            "uptodate": [ManifestCurrent(cfg, target, platforms)],
            "task_dep": [f"image:{cfg.name}:build", *built, f"keys:{cfg.name}:cosign"],
            "meta": {"axion": {"stage": "push", "package": cfg.name, "service": target,
                               "platform": ",".join(platforms),
                               "ref": push_ref(cfg, target)}},
            "verbosity": 1,
        }
