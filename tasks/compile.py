"""The compile stage: one task per module and platform, then the publishing step."""

from __future__ import annotations

from collections.abc import Iterator

from axion_build.build.apptree import SHARED_MODULE, find_modules
from axion_build.build.compile import (
    ToolchainUnchanged,
    base_deps,
    compile_module,
    compile_settings,
    compile_shared,
    manifest_path,
    module_paths,
    platform_dir,
    publish_compiled,
    shared_paths,
    target_platforms,
)
from axion_build.build.freshness import REFRESH_STAMPS
from axion_build.build.moduleguard import SecretsUnchanged
from axion_build.config.flags import cache_sides, current_flags
from axion_build.config.model import PackageConfig
from axion_build.config.packages import PACKAGES
from axion_build.names import arch_of


def meta(cfg: PackageConfig, platform: str, **extra: str) -> dict:
    """The `meta` every compile task carries for the build records."""
    return {"axion": {"stage": "compile", "package": cfg.name, "platform": platform, **extra}}


def module_tasks(cfg: PackageConfig, platform: str) -> Iterator[dict]:
    """One task per module, the shared utility module, and the publishing step."""
    arch = arch_of(platform)
    settings = compile_settings(cfg)
    check = ToolchainUnchanged(cfg, platform, settings)
    searched = SecretsUnchanged(cfg)
    shared_c, shared_so = shared_paths(cfg, platform)
    yield {
        "name": f"{cfg.name}:{arch}:{SHARED_MODULE}",
        "actions": [(compile_shared, [cfg, platform, shared_c, shared_so])],
        "targets": [str(shared_so)],
        "uptodate": [check],
        "task_dep": [f"validate:{cfg.name}", *base_deps(cfg, platform), *signing_keys(cfg)],
        "meta": meta(cfg, platform, factory_set="", module=SHARED_MODULE),
        "verbosity": 1,
    }
    outputs = [(shared_so.relative_to(platform_dir(cfg, platform) / "modules").as_posix(),
                str(shared_so))]
    sources: dict[str, str] = {}
    for module in find_modules(cfg.app_root, cfg.compile):
        c_file, so_file = module_paths(cfg, platform, module)
        source = cfg.app_root / module.relpath
        outputs.append((f"{module.stem_path}.so", str(so_file)))
        sources[f"{module.stem_path}.so"] = str(source)
        yield {
            "name": f"{cfg.name}:{arch}:{module.relpath}",
            "actions": [(compile_module, [cfg, platform, source, module, c_file, so_file])],
            "file_dep": [str(source)],
            "targets": [str(so_file)],
            "uptodate": [check, searched, REFRESH_STAMPS],
            "task_dep": [f"validate:{cfg.name}", *base_deps(cfg, platform), *signing_keys(cfg)],
            "meta": meta(cfg, platform, factory_set=module.factory_set, module=module.relpath),
            "verbosity": 1,
        }
    yield {
        "name": f"{cfg.name}:{arch}",
        "doc": f"compile every module of {cfg.name} for {platform}",
        "actions": [(publish_compiled, [cfg, platform, outputs, sources])],
        "file_dep": [*(built for _, built in outputs), *sources.values()],
        "targets": [str(manifest_path(cfg, platform))],
        "meta": meta(cfg, platform),
    }


def signing_keys(cfg: PackageConfig) -> list[str]:
    """The cosign pair's task, when this run gives modules to the registry cache (an entry
    pushed unsigned serves no one)."""
    return [f"keys:{cfg.name}:cosign"] if cache_sides(cfg)[1] and cfg.registry.url else []


def task_compile() -> Iterator[dict]:
    """Compile each package's factory-set modules to native extensions, per platform."""
    flags = current_flags()
    if flags.skip_compile:
        return
    for cfg in PACKAGES.valid():
        platforms = target_platforms(cfg)
        for platform in platforms:
            yield from module_tasks(cfg, platform)
        yield {
            "name": cfg.name,
            "doc": f"compile {cfg.name} for {', '.join(platforms)}",
            "actions": None,
            "task_dep": [f"compile:{cfg.name}:{arch_of(p)}" for p in platforms],
            "meta": {"axion": {"stage": "compile", "package": cfg.name}},
        }
