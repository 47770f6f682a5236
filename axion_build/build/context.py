"""The Docker build context of a package and platform, and its content manifest.

The context holds exactly what the images may contain: the rendered Dockerfile and
dispatcher, requirements, the wheelhouse, the compiled app (no `.py` of a compiled
module) and the entry scripts. Runtime-only folders (keys, config, documents) are
never copied in.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from pathlib import Path

from axion_build.adapters.fs import write_atomic
from axion_build.build.apptree import platform_slug, python_files
from axion_build.build.compile import base_deps, compiled_dir, manifest_path, target_platforms
from axion_build.build.wheels import arm_excluded, read_excludes
from axion_build.config.model import PackageConfig, native_platform
from axion_build.render import render

SKIPPED_RESOURCES = ("resource.docker", "resource.notes")
TEMPLATE = "dockerfiles/package.dockerfile.j2"
# beside a foreign platform's wheels: uv's `--python-platform` of its interpreter
PYTHON_PLATFORM_FILE = "python-platform"


def context_dir(cfg: PackageConfig, platform: str) -> Path:
    """The build context folder."""
    return cfg.build_dir / platform_slug(platform) / "context"


def context_manifest_path(cfg: PackageConfig, platform: str) -> Path:
    """Manifest of the context: file → sha256, and the Dockerfile's sections."""
    return cfg.build_dir / platform_slug(platform) / "context.json"


def app_dir(cfg: PackageConfig, platform: str) -> Path:
    """The compiled app tree as it runs (entry scripts included), for native deploys."""
    return cfg.build_dir / platform_slug(platform) / "app"


def wheelhouse_dir(cfg: PackageConfig, platform: str) -> Path:
    """The platform's wheelhouse (outside the context, linked in)."""
    return cfg.build_dir / platform_slug(platform) / "wheelhouse"


def venv_platform(cfg: PackageConfig, platform: str) -> str:
    """The platform whose builder image makes `platform`'s venv (pure).

    A foreign platform's venv is made by the host's own builder: uv installs that
    platform's wheels without running them, so the builder stage runs nothing under
    emulation. It is made in the platform's own builder with `compile.cross: false`, and
    with a buildx builder of this engine named in `deployment.buildx.builder`, whose node
    for the platform may be a native one.
    """
    native = native_platform()
    named_builder = cfg.deployment.builder and not cfg.deployment.endpoint
    if platform == native or not cfg.compile.cross or named_builder:
        return platform
    return native


def venv_builder(cfg: PackageConfig, platform: str) -> str:
    """The builder image the venv of `platform`'s images is made in."""
    return cfg.images.builder_for(venv_platform(cfg, platform))


def base_platforms(cfg: PackageConfig) -> tuple[str, ...]:
    """Every platform whose bases a package's run needs: its targets, and the host's when
    its builder makes a foreign platform's venv."""
    platforms = target_platforms(cfg)
    return tuple(dict.fromkeys([*platforms, *(venv_platform(cfg, p) for p in platforms)]))


def image_base_deps(cfg: PackageConfig, platform: str) -> list[str]:
    """The base tasks `platform`'s wheelhouse and images need."""
    maker = venv_platform(cfg, platform)
    return list(dict.fromkeys([*base_deps(cfg, platform), *base_deps(cfg, maker)]))


def dockerfile_context(cfg: PackageConfig, platform: str) -> dict:
    """Values of the Dockerfile template (the seed's build-arg defaults)."""
    images = cfg.images
    builder_platform = venv_platform(cfg, platform)
    return {
        "package": cfg.name,
        "base_image": venv_builder(cfg, platform),
        # the builder stage's own platform when it differs from the image's
        "builder_platform": builder_platform if builder_platform != platform else "",
        "base_runtime_image": images.runtime_for(platform),
        "system_build_deps": images.system_build_deps,
        "system_runtime_deps": images.system_runtime_deps,
        "requirements_file": images.requirements_file,
        "requirements_ai_file": images.requirements_ai_file,
        "services": cfg.services,
    }


def dockerfile_sections(cfg: PackageConfig, platform: str) -> dict[str, str]:
    """The Dockerfile in sections: 'common', 'runtime' and one per service."""
    values = dockerfile_context(cfg, platform)
    sections = {"common": render(TEMPLATE, section="common", ai=False, service=None, **values),
                "runtime": render(TEMPLATE, section="runtime", ai=False, service=None, **values)}
    for service in cfg.services:
        sections[service.name] = render(TEMPLATE, section="service", service=service,
                                        ai=uses_ai(cfg, service.name), **values)
    return sections


def context_settings(cfg: PackageConfig, platform: str) -> str:
    """Every config value the context is made from, as one canonical text (pure).

    The context task's `config_changed` check: a changed port, argument, script, base
    image, requirements or exclude list rewrites the context, and so the images.
    """
    values = dockerfile_context(cfg, platform)
    values["services"] = [dataclasses.asdict(s) for s in cfg.services]
    values.update(platform=platform, ai=cfg.images.ai, compile=dataclasses.asdict(cfg.compile),
                  arm_exclude_file=cfg.images.arm_exclude_file)
    return json.dumps(values, sort_keys=True, default=list)


def uses_ai(cfg: PackageConfig, service: str) -> bool:
    """The `ai` service (or every service with images.ai) runs on the AI venv."""
    return cfg.images.ai or service == "ai"


def requirement_texts(cfg: PackageConfig, platform: str) -> dict[str, str]:
    """Requirements files for the context, the arm-exclude list applied off amd64."""
    excluded = set()
    if not platform.endswith("amd64"):
        excluded = read_excludes(cfg.app_root / cfg.images.arm_exclude_file)
    texts = {}
    for relative in (cfg.images.requirements_file, cfg.images.requirements_ai_file):
        source = cfg.app_root / relative
        if relative and source.is_file():
            texts[relative] = arm_excluded(source.read_text(), excluded)
    return texts


def app_files(cfg: PackageConfig) -> list[str]:
    """Source files shipped as they are: Python that stays Python and resources."""
    files = [f for f in python_files(cfg.app_root, cfg.compile) if "/" in f]
    for folder in sorted(cfg.app_root.glob("resource.*")):
        if folder.is_dir() and folder.name not in SKIPPED_RESOURCES:
            files += sorted(p.relative_to(cfg.app_root).as_posix()
                            for p in folder.rglob("*") if p.is_file())
    return files


def source_inputs(cfg: PackageConfig) -> list[str]:
    """Every app file the context is made from (file_dep of the context task)."""
    scripts = sorted({s.script for s in cfg.services})
    return [str(cfg.app_root / f) for f in (*app_files(cfg), *scripts)]


def link_or_copy(source: Path, dest: Path) -> None:
    """Hard-link (cheap, same content and mtime) or copy across filesystems."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, dest)
    except OSError:
        shutil.copy2(source, dest)


def assemble_context(cfg: PackageConfig, platform: str) -> dict[str, str]:
    """Write the context afresh and return its manifest (relative path → sha256)."""
    final = context_dir(cfg, platform)
    staging = final.with_name("context.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    sections = dockerfile_sections(cfg, platform)
    (staging / "Dockerfile").write_text("".join(sections.values()))
    (staging / "entrypoint.sh").write_text(render("dockerfiles/entrypoint.sh.j2",
                                                  package=cfg.name, services=cfg.services))
    (staging / "entrypoint.sh").chmod(0o755)
    for relative, text in requirement_texts(cfg, platform).items():
        target = staging / "requirements" / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    for wheel in sorted(wheelhouse_dir(cfg, platform).glob("*.whl")):
        link_or_copy(wheel, staging / "wheelhouse" / wheel.name)
    made_for = wheelhouse_dir(cfg, platform) / PYTHON_PLATFORM_FILE
    if venv_platform(cfg, platform) != platform:
        link_or_copy(made_for, staging / PYTHON_PLATFORM_FILE)
    compiled = compiled_dir(cfg, platform)
    for built in sorted(compiled.rglob("*.so")):
        link_or_copy(built, staging / "app" / built.relative_to(compiled))
    for relative in app_files(cfg):
        link_or_copy(cfg.app_root / relative, staging / "app" / relative)
    for service in cfg.services:
        link_or_copy(cfg.app_root / service.script, staging / "serve" / service.script)
    manifest = {"files": hash_tree(staging),
                "sections": {k: sha256(v.encode()) for k, v in sections.items()},
                "compiled": json.loads(manifest_path(cfg, platform).read_text())}
    swap_in(staging, final)
    app = app_dir(cfg, platform).with_name("app.partial")
    shutil.rmtree(app, ignore_errors=True)
    for source in ("app", "serve"):
        for path in sorted((final / source).rglob("*")):
            if path.is_file():
                link_or_copy(path, app / path.relative_to(final / source))
    swap_in(app, app_dir(cfg, platform))
    return manifest


def swap_in(staging: Path, final: Path) -> None:
    """Replace `final` by the fully written `staging` folder."""
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)


def hash_tree(root: Path) -> dict[str, str]:
    """sha256 of every file under `root`, by relative path."""
    return {p.relative_to(root).as_posix(): sha256(p.read_bytes())
            for p in sorted(root.rglob("*")) if p.is_file()}


def sha256(data: bytes) -> str:
    """Hex sha256 of `data`."""
    return hashlib.sha256(data).hexdigest()


def write_context(cfg: PackageConfig, platform: str) -> None:
    """doit action: assemble the context and write its manifest atomically."""
    manifest = assemble_context(cfg, platform)
    target = context_manifest_path(cfg, platform)
    write_atomic(target, json.dumps(manifest, indent=1, sort_keys=True))
