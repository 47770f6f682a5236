"""Validate stage: the config schema, referenced files, ports and key pair, all at once."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from doit.exceptions import TaskFailed

from axion_build.build.keys import exposed_key_problem, exposed_keys, key_pair_problem, key_paths
from axion_build.build.signkeys import cosign_key_paths
from axion_build.config.checks import check_config
from axion_build.config.flags import current_flags
from axion_build.config.load import parse_config, read_yaml
from axion_build.config.model import PackageConfig
from axion_build.config.modulenames import clash_problems, python_modules
from axion_build.config.packages import PACKAGES, config_file, env_snapshot
from axion_build.config.problems import ConfigError, Problem, line_of
from axion_build.config.publickeys import KeyFileError, load_public_key
from axion_build.config.references import app_root_of, at_item, file_problems
from axion_build.config.values import SAFE_NAME, section, value_warnings


def review(path: Path, environ: Mapping[str, str] | None = None
           ) -> tuple[list[Problem], list[Problem]]:
    """(problems, warnings) of one package config: YAML, schema, environment, values,
    paths, files, modules and keys, all in one pass."""
    environ = os.environ if environ is None else environ
    doc, problems = read_yaml(path)
    if doc is None:
        return problems, []
    merged, problems = check_config(doc, path, environ)
    problems += file_problems(merged, doc, path, environ)
    clashes, warnings = clash_problems(merged, path)
    problems += clashes
    problems += check_keys(merged, doc, path)
    problems += check_database_url(merged, doc, path, environ)
    problems += trusted_key_problems(merged, doc, path, environ)
    if not problems:
        cfg = parse_config(merged, path)
        problems += compiled_output_problems(cfg) + emulation_problems(cfg, doc)
    return problems, [*value_warnings(merged, doc, path, environ), *warnings]


def validate_file(path: Path, environ: Mapping[str, str] | None = None) -> list[Problem]:
    """Every problem of one package config (see `review`)."""
    return review(path, environ)[0]


def check_database_url(merged: Mapping, doc: Mapping, path: Path,
                       environ: Mapping[str, str]) -> list[Problem]:
    """A set `database.url` is one the run can write its record to."""
    from axion_build.records.dburl import URL_FIX, url_problem

    block = merged.get("database") if isinstance(merged, Mapping) else None
    url = str(block.get("url") or "") if isinstance(block, Mapping) else ""
    if not url or not (problem := url_problem(url)):
        return []
    if "AXION_DATABASE_URL" in environ:
        return [Problem(Path("environment variable AXION_DATABASE_URL"), 0, "database.url",
                        problem, f"set AXION_DATABASE_URL right or unset it; {URL_FIX}")]
    return [Problem(path, line_of(doc.get("database") or {}, "url"), "database.url",
                    problem, URL_FIX)]


def trusted_key_problems(merged: Mapping, doc: Mapping, path: Path,
                         environ: Mapping[str, str]) -> list[Problem]:
    """Every `cache.trusted_keys` entry is a readable ECDSA public key file (relative to
    this config file), never a private key."""
    listed = section(merged, "cache").get("trusted_keys")
    problems = []
    for index, item in enumerate(listed if isinstance(listed, list) else []):
        try:
            load_public_key(path.parent / str(item))
        except KeyFileError as exc:
            problems.append(at_item(path, doc, environ, ("cache", "trusted_keys"), index,
                                    str(exc), "list cosign public keys (.pub files), "
                                    "relative to this config file"))
    return problems


def check_keys(merged: Mapping, doc: Mapping, path: Path) -> list[Problem]:
    """The package's PEM key pair exists in data.config/ and matches; its private key and
    cosign key (when there is one) are readable by their owner only."""
    name = section(merged, "package").get("name")
    root = app_root_of(merged, path)
    # a bad name or tree is reported as such; its keys would be looked for in the wrong place
    if name != path.stem or not SAFE_NAME.match(name) or not root or not root.is_dir():
        return []
    found = [key_pair_problem(root / "data.config", name)]
    # the cosign pair is made by `keys:<pkg>:cosign` when a push needs it: only its mode here
    cosign_key = cosign_key_paths(root / "data.config", name)[0]
    if cosign_key.is_file():
        found.append(exposed_key_problem(cosign_key))
    return [Problem(path, line_of(doc["package"], "name"), "package.name", problem, fix)
            for problem, fix in found if problem]


def compiled_output_problems(cfg: PackageConfig) -> list[Problem]:
    """With `skip_compile`, the compiled output it reuses must exist for every platform."""
    if not current_flags().skip_compile:
        return []
    return [Problem(Path("doit variable skip_compile"), 0, "skip_compile",
                    f"nothing compiled yet for {platform} ({manifest} is missing)",
                    f"run once without skip_compile (doit compile:{cfg.name})")
            for platform, manifest in missing_manifests(cfg)]


EMULATION_FIX = ("install QEMU's user emulation: 'sudo apt-get install -y qemu-user-static "
                 "binfmt-support', then 'sudo update-binfmts --enable qemu-{emulator}' "
                 "('sudo ./run provision tests' does both); or build only linux/amd64")


def foreign_without_emulation(cfg: PackageConfig) -> list[str]:
    """Target platforms this machine can neither run natively nor emulate."""
    from axion_build.build.bootstrap import EMULATORS, emulation_available
    from axion_build.build.compile import target_platforms
    from axion_build.config.model import native_platform

    return [p for p in target_platforms(cfg) if p != native_platform()
            and not emulation_available(p.split("/")[-1]) and p.split("/")[-1] in EMULATORS]


def emulation_problems(cfg: PackageConfig, doc: Mapping) -> list[Problem]:
    """A foreign platform needs QEMU here (its base images, compiles and RUN steps)."""
    from axion_build.build.bootstrap import EMULATORS

    problems = []
    for platform in foreign_without_emulation(cfg):
        emulator = EMULATORS[platform.split("/")[-1]].removeprefix("qemu-")
        message = f"{platform} needs QEMU emulation, which this machine lacks"
        if current_flags().platform:
            where, line, field = Path("doit variable platform"), 0, "platform"
        else:
            where, field = cfg.path, "deployment.platform"
            line = line_of(doc.get("deployment") or {}, "platform")
        problems.append(Problem(where, line, field, message,
                                EMULATION_FIX.format(emulator=emulator)))
    return problems


def missing_manifests(cfg: PackageConfig) -> list[tuple[str, Path]]:
    """(platform, manifest) of each target platform that has no complete compiled tree."""
    from axion_build.build.compile import manifest_path, target_platforms

    found = ((p, manifest_path(cfg, p)) for p in target_platforms(cfg))
    return [(platform, manifest) for platform, manifest in found if not manifest.is_file()]


def validate_action(path: Path) -> TaskFailed | None:
    """doit action: print every warning and problem and fail on problems, or pass."""
    problems, warnings = review(path)
    for warning in warnings:
        print(f"warning: {warning}")
    if problems:
        return TaskFailed(ConfigError(problems).report())
    print(f"{path.name}: valid")
    return None


def validate_inputs(package: str) -> list[str]:
    """Files whose change re-runs validation (those that exist)."""
    path = config_file(package)
    cfg = PACKAGES.get(package)
    files = [path]
    if isinstance(cfg, PackageConfig):
        files += [cfg.app_root / s.script for s in cfg.services]
        files += [cfg.app_root / cfg.images.requirements_file]
        files += list(key_paths(cfg.app_root / "data.config", cfg.name))
        files += list(cfg.cache.trusted_keys)
    return [str(f) for f in files if f.is_file()]


def validate_facts(package: str, inputs: list[str]) -> dict:
    """What validation reads besides file contents: the environment, which files and
    modules exist, and (with skip_compile) which compiled trees are missing."""
    cfg = PACKAGES.get(package)
    facts = {"package": package, "env": env_snapshot(), "inputs": inputs}
    if isinstance(cfg, PackageConfig):
        facts["modules"] = python_modules(cfg.app_root, cfg.compile)
        if current_flags().skip_compile:
            facts["uncompiled"] = [str(m) for _, m in missing_manifests(cfg)]
        facts["unemulated"] = foreign_without_emulation(cfg)
        folder = cfg.app_root / "data.config"
        # doit's file_dep sees content only: a chmod that opens or closes a private key
        # must rerun validation too (a key made 0600 by the run itself changes nothing)
        facts["exposed_keys"] = exposed_keys([key_paths(folder, cfg.name)[0],
                                              cosign_key_paths(folder, cfg.name)[0]])
    return facts


