"""Compile stage: one doit task per module, Cython `.py` → C → `.so`, per platform.

Cython runs in-process (it is the same for every platform); the C step runs with
the platform's toolchain (host, cross or builder image, see toolchain.py). Modules share
one Cython utility module, so each module's C file carries only its own code.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import os
import shutil
import sys
import time
from pathlib import Path

from doit.exceptions import TaskFailed

from axion_build.build.apptree import SHARED_MODULE, ModuleSource, find_modules, platform_slug
from axion_build.build.artifact import module_key, shared_key
from axion_build.build.cachesession import finish_session, session_for, this_origin
from axion_build.build.cc import c_compile
from axion_build.build.freshness import NamedCheck
from axion_build.build.modcache import SharedCache
from axion_build.build.moduleguard import generated_problem, shipped_secrets, source_problem
from axion_build.build.toolchain import Toolchain, select_toolchain
from axion_build.config.flags import current_flags
from axion_build.config.model import PackageConfig


def platform_dir(cfg: PackageConfig, platform: str) -> Path:
    """Build folder of one package and platform."""
    return cfg.build_dir / platform_slug(platform)


def module_paths(cfg: PackageConfig, platform: str, module: ModuleSource) -> tuple[Path, Path]:
    """The generated C file and the compiled module of `module`."""
    root = platform_dir(cfg, platform)
    return root / "c" / f"{module.stem_path}.c", root / "modules" / f"{module.stem_path}.so"


def shared_paths(cfg: PackageConfig, platform: str) -> tuple[Path, Path]:
    """C file and compiled module of the shared Cython utility module."""
    root = platform_dir(cfg, platform)
    first_set = cfg.compile.factory_sets[0]
    return (root / "c" / f"{SHARED_MODULE}.c",
            root / "modules" / first_set / f"{SHARED_MODULE}.so")


def compiled_dir(cfg: PackageConfig, platform: str) -> Path:
    """The last complete compiled tree (what images ship)."""
    return platform_dir(cfg, platform) / "compiled"


def manifest_path(cfg: PackageConfig, platform: str) -> Path:
    """Manifest of the last complete compiled tree."""
    return platform_dir(cfg, platform) / "compiled.json"


@functools.cache
def toolchain_for(cfg: PackageConfig, platform: str) -> Toolchain:
    """The toolchain of a package's platform (memoized for the process, per config)."""
    return select_toolchain(platform, cfg.images.runtime_for(platform),
                            cfg.images.builder_for(platform), cfg.build_dir / "toolchain",
                            cross=cfg.compile.cross)


@functools.cache
def base_deps(cfg: PackageConfig, platform: str) -> list[str]:
    """The base stage's tasks a platform's compile and images need: bootstrapping or
    pulling its runtime and builder bases (once per config and platform)."""
    if not cfg.images.bootstrap:
        from axion_build.build.bases import pulled_bases

        return [f"base:{base.name}" for base in pulled_bases(cfg, platform)]
    from axion_build.build.bootstrap import BUILDER_DOCKERFILE, base_images

    return [f"base:{image.name}"
            for image in base_images(cfg.images, platform, BUILDER_DOCKERFILE.read_text())]


def compile_settings(cfg: PackageConfig) -> tuple:
    """Compiler settings whose change recompiles every module."""
    return (cfg.compile.directives, cfg.compile.cflags)


class ToolchainUnchanged(NamedCheck):
    """doit uptodate check: the toolchain and settings a module was built with are unchanged.

    Evaluated lazily when the task is selected, so `doit list` never asks the engine.
    """

    reason = "compiler, toolchain or settings changed"

    def __init__(self, cfg: PackageConfig, platform: str, settings: tuple):
        self.cfg, self.platform, self.settings = cfg, platform, settings
        self.current = ""

    def digest(self) -> str:
        """The current fingerprint, taken once: one check serves every module task of
        the platform, and the toolchain is fixed for the process (`toolchain_for`)."""
        if not self.current:
            toolchain = toolchain_for(self.cfg, self.platform)
            if toolchain.warning:  # once a run: checks run in the main process only
                print(f"axion: WARNING: {toolchain.warning}", file=sys.stderr, flush=True)
            self.current = toolchain.fingerprint(self.settings)
        return self.current

    def __call__(self, task, values) -> bool:
        """True when the saved fingerprint equals the current one."""
        digest = self.digest()
        task.value_savers.append(lambda: {"_toolchain": digest})
        return values.get("_toolchain") == digest


def cythonize_one(source: Path, c_file: Path, module_name: str, directives: dict,
                  shared: bool = True) -> str:
    """Cython → C in-process; returns '' on success or Cython's error text."""
    from Cython.Compiler import Errors
    from Cython.Compiler.Main import CompilationOptions, compile_single, default_options

    c_file.parent.mkdir(parents=True, exist_ok=True)
    options = CompilationOptions(
        default_options, output_file=str(c_file), compiler_directives=dict(directives),
        language_level=directives.get("language_level", 3),
        shared_utility_qualified_name=SHARED_MODULE if shared else None)
    captured = io.StringIO()
    with contextlib.redirect_stderr(captured), contextlib.redirect_stdout(captured):
        try:
            result = compile_single(str(source), options, full_module_name=module_name)
            failed = result.num_errors > 0
        except Errors.CompileError as exc:
            failed, captured = True, io.StringIO(f"{captured.getvalue()}\n{exc}")
    if failed:
        c_file.unlink(missing_ok=True)
        return captured.getvalue().strip() or f"Cython rejected {source}"
    return ""


def generate_shared(c_file: Path, directives: dict) -> None:
    """Write the C source of the shared utility module."""
    from Cython.Build.SharedModule import generate_shared_module
    from Cython.Compiler.Main import CompilationOptions, default_options

    c_file.parent.mkdir(parents=True, exist_ok=True)
    options = CompilationOptions(default_options, shared_c_file_path=str(c_file),
                                 module_name=SHARED_MODULE,
                                 compiler_directives=dict(directives), language_level=3)
    with contextlib.redirect_stdout(io.StringIO()):
        generate_shared_module(options)


def compile_module(cfg: PackageConfig, platform: str, source: Path, module: ModuleSource,
                   c_file: Path, so_file: Path) -> dict | TaskFailed:
    """doit action: take one module from the registry cache, or compile it (and give it to
    the cache); on failure, its error text names it. A source holding a secret is neither
    taken nor compiled: its `.so` would ship the secret where the image guard cannot see it
    (a cached `.so` is keyed by this very source)."""
    started = time.perf_counter()
    secrets = shipped_secrets(cfg)
    if error := source_problem(source, secrets):
        return compile_failed(module, platform, (c_file, so_file), error)
    cache = shared_cache(cfg, platform)
    key = module_key(cache_fingerprint(cfg, platform), module.name, source) if cache else ""
    values: dict = {"module": module.relpath}
    if cache is not None:
        origin, warning = cache.take(key, so_file)
        if origin is not None:
            return {**values, "seconds": round(time.perf_counter() - started, 3),
                    "cache": origin.describe(), "built_by": origin.run,
                    "built_on": origin.host}
        if warning:
            values["cache_warning"] = warning
    directives = dict(cfg.compile.directives)
    error = cythonize_one(source, c_file, module.name, directives)
    if not error:
        error = (generated_problem(c_file, source, secrets)
                 or c_compile(toolchain_for(cfg, platform), c_file, so_file, cfg.compile.cflags))
    if error:
        return compile_failed(module, platform, (c_file, so_file), error)
    if cache is not None:
        cache.give(key, so_file, module.relpath, this_origin(cfg.name))
    return {**values, "seconds": round(time.perf_counter() - started, 3)}


def compile_failed(module: ModuleSource, platform: str, made: tuple[Path, Path],
                   error: str) -> TaskFailed:
    """A module's compile failure, naming it (no C or `.so` of it is left behind)."""
    for path in made:
        path.unlink(missing_ok=True)
    return TaskFailed(f"{module.relpath} ({module.factory_set}, {platform}) failed to "
                      f"compile:\n{error}")


def compile_shared(cfg: PackageConfig, platform: str, c_file: Path,
                   so_file: Path) -> dict | TaskFailed:
    """doit action: take the shared Cython utility module from the registry cache, or
    generate and compile it."""
    cache = shared_cache(cfg, platform)
    key = shared_key(cache_fingerprint(cfg, platform), SHARED_MODULE) if cache else ""
    if cache is not None:
        origin, _ = cache.take(key, so_file)
        if origin is not None:
            return {"module": SHARED_MODULE, "cache": origin.describe()}
    generate_shared(c_file, dict(cfg.compile.directives))
    error = c_compile(toolchain_for(cfg, platform), c_file, so_file, cfg.compile.cflags)
    if error:
        return TaskFailed(f"shared utility module failed to compile:\n{error}")
    if cache is not None:
        cache.give(key, so_file, SHARED_MODULE, this_origin(cfg.name))
    return {"module": SHARED_MODULE}


@functools.cache
def cache_fingerprint(cfg: PackageConfig, platform: str) -> str:
    """The toolchain part of every module key of a platform (once per process)."""
    return toolchain_for(cfg, platform).fingerprint(compile_settings(cfg))


def shared_cache(cfg: PackageConfig, platform: str) -> SharedCache | None:
    """This run's registry cache of the package and platform, when it pulls or pushes."""
    def candidates() -> list[tuple[str, Path]]:
        fingerprint = cache_fingerprint(cfg, platform)
        found = [(shared_key(fingerprint, SHARED_MODULE), shared_paths(cfg, platform)[1])]
        for module in find_modules(cfg.app_root, cfg.compile):
            found.append((module_key(fingerprint, module.name, cfg.app_root / module.relpath),
                          module_paths(cfg, platform, module)[1]))
        return found

    return session_for(cfg, platform, platform_dir(cfg, platform) / "fetched", candidates)


def publish_compiled(cfg: PackageConfig, platform: str, outputs: list[tuple[str, str]],
                     sources: dict[str, str] | None = None) -> dict:
    """doit action: swap in a complete compiled tree (hard links) and its manifest, once
    the registry cache's pushes of the platform are done."""
    cached = finish_session(cfg, platform, platform_dir(cfg, platform) / "fetched")
    target = compiled_dir(cfg, platform)
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    for relpath, built in outputs:
        dest = partial / relpath
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.link(built, dest)
    old = target.with_name(target.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    partial.rename(target)
    shutil.rmtree(old, ignore_errors=True)
    # the content of every module and of its source, so whatever depends on this file
    # sees an edit, and the SBOM names what each module was built from and with
    manifest = {"package": cfg.name, "platform": platform,
                "toolchain": toolchain_for(cfg, platform).kind,
                "fingerprint": cache_fingerprint(cfg, platform),
                "modules": sorted(relpath for relpath, _ in outputs),
                "sha256": {relpath: file_sha256(target / relpath) for relpath, _ in outputs},
                "source_sha256": {relpath: file_sha256(Path(source))
                                  for relpath, source in sorted((sources or {}).items())}}
    manifest_path(cfg, platform).write_text(json.dumps(manifest, indent=1))
    return {"modules": len(outputs), **({"registry_cache": cached} if cached else {})}


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's content."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def target_platforms(cfg: PackageConfig) -> tuple[str, ...]:
    """Platforms of this run: `--platform` wins over the config."""
    flag = current_flags().platform
    if flag:
        return tuple(p.strip() for p in flag.split(",") if p.strip())
    return cfg.deployment.platforms
