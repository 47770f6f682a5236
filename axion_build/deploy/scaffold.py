"""Scaffold stage: deployment files for the package's substrate (compose, k3s, supervisor).

Everything is checked and rendered in memory first; only then are the files
written, each through a temporary file, so bad input leaves the previous files as
they were.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from doit.exceptions import TaskFailed

from axion_build.adapters.fs import write_files
from axion_build.build.context import app_dir
from axion_build.config.load import read_yaml
from axion_build.config.model import SCHEMA, SUBSTRATES, PackageConfig, env_name
from axion_build.config.problems import ConfigError, Problem, located
from axion_build.config.runtime import runtime_config_path
from axion_build.deploy.caddy import render_caddyfile, routed_services, upstream_defaults
from axion_build.deploy.helm import (
    DOCUMENT_FOLDERS,
    chart_paths,
    chart_templates,
    document_folders,
    render_k3s,
)
from axion_build.names import image_repository
from axion_build.paths import TEMPLATES
from axion_build.render import render

CADDY_TEMPLATE = "caddy/Caddyfile.j2"
# per substrate: its own template(s) and the files it writes besides the Caddyfile
OWN_FILES = {
    "compose": (["deploy/compose.yaml.j2"], ["compose.yaml"]),
    "supervisor": (["deploy/supervisord.conf.j2"], ["supervisord.conf"]),
}
# config sections a deploy may override through AXION_{SECTION}_{OPTION}
OVERRIDABLE_SECTIONS = ("database", "smtp", "runtime")
# Kubernetes object and container names: a DNS label
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@dataclass(frozen=True)
class ScaffoldOptions:
    """Render-time choices: image tag or pinned digests (target → `sha256:…`), Caddy's
    host ports, and the native run's paths."""

    tag: str = "latest"
    digests: tuple[tuple[str, str], ...] = ()
    http_port: int = 8080
    https_port: int = 8443
    app_dir: Path | None = None
    python: str = ""
    runtime_dir: Path | None = None
    caddy: str = "caddy"


def image_ref(cfg: PackageConfig, service: str, tag: str = "latest", digest: str = "") -> str:
    """The registry reference deploy files run for `service`: at `digest`, else `tag`."""
    repo = image_repository(cfg, service)
    return f"{repo}@{digest}" if digest else f"{repo}:{tag}"


def deploy_dir(cfg: PackageConfig, substrate: str) -> Path:
    """Where the scaffold of one substrate is written."""
    return cfg.build_dir / "deploy" / substrate


def compiled_app_dir(cfg: PackageConfig) -> Path:
    """The compiled app tree of the first target platform, else the source tree."""
    compiled = app_dir(cfg, cfg.deployment.platforms[0])
    return compiled if compiled.is_dir() else cfg.app_root


def resolve_options(cfg: PackageConfig, options: ScaffoldOptions) -> ScaffoldOptions:
    """Fill in the native-run defaults that depend on the package and the host."""
    return replace(options, app_dir=Path(options.app_dir or compiled_app_dir(cfg)).resolve(),
                   python=options.python or sys.executable,
                   runtime_dir=options.runtime_dir or Path("home"))


def output_paths(substrate: str, package: str) -> list[str]:
    """Files a scaffold writes, relative to its deploy folder."""
    if substrate == "k3s":
        return ["Caddyfile", *(f"helm/{package}/{p}" for p in chart_paths())]
    return [*OWN_FILES[substrate][1], "Caddyfile"] if substrate in OWN_FILES else []


def template_inputs(substrate: str) -> list[str]:
    """Template files a substrate's scaffold is rendered from."""
    own = chart_templates() if substrate == "k3s" else OWN_FILES.get(substrate, ([],))[0]
    return [str(TEMPLATES / t) for t in [CADDY_TEMPLATE, *own]]


def render_compose(cfg: PackageConfig, options: ScaffoldOptions) -> dict[str, str]:
    """compose.yaml (one service per image, plus Caddy) and its Caddyfile."""
    here, tag = deploy_dir(cfg, "compose"), f"${{AXION_IMAGE_TAG:-{options.tag}}}"
    pins = dict(options.digests)
    text = render(
        OWN_FILES["compose"][0][0], package=cfg.name, config_name=cfg.path.name,
        project=f"axion-{cfg.name}", tag=options.tag, document_folders=document_folders(),
        pinned=bool(pins), services=[{"name": s.name, "port": s.port,
                                      "image": image_ref(cfg, s.name, tag, pins.get(s.name, ""))}
                                     for s in cfg.services],
        pass_env=[env_name((section, option)) for section in OVERRIDABLE_SECTIONS
                  for option in SCHEMA[section]],
        config_file=os.path.relpath(runtime_config_path(cfg.build_dir), here),
        keys_dir=os.path.relpath(cfg.app_root / "data.config", here),
        http_port=options.http_port, https_port=options.https_port,
        caddy={"image": image_ref(cfg, "caddy", tag, pins.get("caddy", "")),
               "environment": upstream_defaults(cfg),
               "depends_on": [s.name for s in routed_services(cfg)]},
    )
    return {"compose.yaml": text, "Caddyfile": render_caddyfile(cfg, "compose")}


def render_supervisor(cfg: PackageConfig, options: ScaffoldOptions) -> dict[str, str]:
    """supervisord.conf running each service natively, and Caddy on 127.0.0.1 upstreams."""
    home = options.runtime_dir
    programs = [{"name": s.name,
                 "command": conf_value(shlex.join([options.python, s.script, *s.args]))}
                for s in cfg.services]
    caddy = shlex.join([options.caddy, "run", "--config", "CADDYFILE", "--adapter", "caddyfile"])
    text = render(
        OWN_FILES["supervisor"][0][0], package=cfg.name, config_name=cfg.path.name,
        conf_name="supervisord.conf", project=f"axion-{cfg.name}",
        app_dir=conf_value(str(options.app_dir)), services=programs,
        home=conf_value(str(home)) if home.is_absolute() else f"%(here)s/{home}",
        programs=[*(p["name"] for p in programs), "caddy"],
        caddy_command=conf_value(caddy).replace("CADDYFILE", "%(here)s/Caddyfile"),
    )
    caddyfile = render_caddyfile(cfg, "supervisor", upstream_host="127.0.0.1",
                                 ports=(options.http_port, options.https_port), admin="off")
    return {"supervisord.conf": text, "Caddyfile": caddyfile}


def conf_value(text: str) -> str:
    """A value for supervisord's config, where `%` starts an expansion."""
    return text.replace("%", "%%")


RENDERERS = {"compose": render_compose, "supervisor": render_supervisor,
             "k3s": lambda cfg, options: render_k3s(cfg, options.tag, dict(options.digests))}


def scaffold_problems(cfg: PackageConfig, substrate: str, options: ScaffoldOptions,
                      doc: Mapping | None = None,
                      environ: Mapping[str, str] | None = None) -> list[Problem]:
    """Everything that stops a scaffold: substrate, scripts, routes, names, ports."""
    def problem(keys: tuple[str, ...], message: str, fix: str) -> Problem:
        return located(cfg.path, doc or {}, environ or {}, keys, message, fix)

    if substrate not in SUBSTRATES:
        return [problem(("deployment", "substrate"), f"unknown substrate {substrate!r}",
                        f"use one of: {', '.join(SUBSTRATES)}")]
    problems = []
    for spec in cfg.services:
        keys = ("services", spec.name)
        if not spec.script.strip():
            problems.append(problem((*keys, "script"), "no entry script",
                                    "add 'script: Serve<Name>.py'"))
        elif substrate == "supervisor" and not (options.app_dir / spec.script).is_file():
            problems.append(problem((*keys, "script"),
                                    f"{spec.script} not found in {options.app_dir}",
                                    f"create {spec.script} or fix the script name"))
        if spec.route and not spec.port:
            problems.append(problem((*keys, "route"), "a routed service needs a port",
                                    "add 'port: <number>'"))
        if substrate == "k3s" and not DNS_LABEL.match(spec.name):
            problems.append(problem(keys, f"{spec.name!r} is not a Kubernetes name",
                                    "use lower-case letters, digits and '-'"))
    return problems + [problem(keys, message, "give each its own")
                       for keys, message in clashes(cfg, substrate, options)]


def clashes(cfg: PackageConfig, substrate: str,
            options: ScaffoldOptions) -> list[tuple[tuple[str, ...], str]]:
    """Ports and routes taken twice; on a bare host Caddy's own ports count too."""
    found = []
    if options.http_port == options.https_port:
        found.append((("scaffold", "https_port"),
                      f"Caddy's HTTP and HTTPS ports are both {options.https_port}"))
    ports: dict[int, str] = {}
    if substrate == "supervisor":
        ports = {options.http_port: "Caddy (HTTP)", options.https_port: "Caddy (HTTPS)"}
    routes: dict[str, str] = {}
    for spec in cfg.services:
        keys, route = ("services", spec.name), spec.route.rstrip("/") or "/"
        if spec.port and spec.port in ports:
            found.append(((*keys, "port"), f"port {spec.port} is already used by "
                                           f"{ports[spec.port]}"))
        if spec.route and route in routes:
            found.append(((*keys, "route"), f"route {spec.route!r} is already served by "
                                            f"{routes[route]}"))
        if spec.port:
            ports.setdefault(spec.port, f"service {spec.name!r}")
        if spec.route:
            routes.setdefault(route, f"service {spec.name!r}")
    return found


def render_scaffold(cfg: PackageConfig, substrate: str | None = None,
                    options: ScaffoldOptions | None = None,
                    environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Check, then render every file of the scaffold in memory; ConfigError on bad input."""
    substrate = substrate or cfg.deployment.substrate
    options = resolve_options(cfg, options or ScaffoldOptions())
    doc, _ = read_yaml(cfg.path)
    problems = scaffold_problems(cfg, substrate, options, doc,
                                 os.environ if environ is None else environ)
    if problems:
        raise ConfigError(problems)
    return RENDERERS[substrate](cfg, options)


def prepare_home(cfg: PackageConfig, folder: Path) -> None:
    """The native run's AXION_HOME: config.yaml and data.config/ linked, documents made."""
    home = folder / "home"
    for name, _ in DOCUMENT_FOLDERS:
        (home / name).mkdir(parents=True, exist_ok=True)
    links = {"config.yaml": runtime_config_path(cfg.build_dir).resolve(),
             "data.config": (cfg.app_root / "data.config").resolve()}
    for name, target in links.items():
        link = home / name
        if link.is_symlink() and Path(os.readlink(link)) != target:
            link.unlink()
        if not link.is_symlink() and not link.exists():
            link.symlink_to(target)
    for own in ("logs", "caddy/data", "caddy/config"):
        (folder / own).mkdir(parents=True, exist_ok=True)


def scaffold(cfg: PackageConfig, substrate: str | None = None,
             options: ScaffoldOptions | None = None) -> list[Path]:
    """Render and write the scaffold of `substrate`; the files that changed."""
    substrate = substrate or cfg.deployment.substrate
    options = options or ScaffoldOptions()
    files = render_scaffold(cfg, substrate, options)
    folder = deploy_dir(cfg, substrate)
    written = write_files(folder, files, prune=f"helm/{cfg.name}" if substrate == "k3s" else "")
    if substrate == "supervisor":
        (folder / "logs").mkdir(exist_ok=True)
        if options.runtime_dir is None:
            prepare_home(cfg, folder)
    return written


def scaffold_action(cfg: PackageConfig, substrate: str) -> dict | TaskFailed:
    """doit action: write the scaffold, its images pinned to the digests this build
    published, and list what changed; or fail with every problem."""
    from axion_build.deploy.pins import scaffold_pins

    digests, note = scaffold_pins(cfg, substrate)
    try:
        written = scaffold(cfg, substrate, ScaffoldOptions(digests=digests))
    except ConfigError as exc:
        print(exc.report(), file=sys.stderr)
        return TaskFailed(exc.report())
    for path in written:
        print(f"wrote {path}")
    if not written:
        print(f"{deploy_dir(cfg, substrate)}: unchanged")
    if note:
        print(note)
    return {"pins": dict(digests)}


def scaffold_fingerprint(cfg: PackageConfig, substrate: str) -> dict:
    """Inputs besides files: the parsed config (environment overrides applied), host paths."""
    facts = {"substrate": substrate, "services": [asdict(s) for s in cfg.services],
             "registry": [cfg.registry.url, cfg.registry.namespace],
             "paths": [str(cfg.app_root), str(cfg.build_root)]}
    if substrate == "supervisor":
        options = resolve_options(cfg, ScaffoldOptions())
        facts["native"] = [str(options.app_dir), options.python]
    return facts


