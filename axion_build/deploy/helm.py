"""The k3s scaffold: a Helm chart rendered from charts/helm/ (Jinja2 first, Helm at install)."""

from __future__ import annotations

import io
from pathlib import Path

from jinja2 import Environment

from axion_build.config.load import read_yaml, yaml_rt
from axion_build.config.model import SECRET_OPTIONS, PackageConfig
from axion_build.config.problems import ConfigError
from axion_build.config.runtime import trim_document
from axion_build.deploy.caddy import render_caddyfile, routed_services
from axion_build.paths import TEMPLATES
from axion_build.render import environment

CHART_TEMPLATES = "charts/helm"
# the runtime document folders (one volume or claim each) and a claim's default size
DOCUMENT_FOLDERS = (("local.documents", "1Gi"), ("data.documents", "5Gi"),
                    ("archive.documents", "10Gi"))
CHART_VERSION = "0.1.0"
# files the scaffold adds next to the rendered templates, read by `.Files.Get`
CONFIG_FILE = "files/config.yaml"
CADDYFILE = "files/Caddyfile"


def chart_environment() -> Environment:
    """Jinja2 with [[ ]] / [% %] / [# #] delimiters, leaving Helm's {{ }} untouched."""
    return environment().overlay(
        variable_start_string="[[", variable_end_string="]]",
        block_start_string="[%", block_end_string="%]",
        comment_start_string="[#", comment_end_string="#]",
    )


def chart_templates() -> list[str]:
    """Template paths (relative to the repo root) that make up the chart."""
    folder = TEMPLATES / CHART_TEMPLATES
    return sorted(p.relative_to(TEMPLATES).as_posix() for p in folder.rglob("*.j2") if p.is_file())


def chart_paths() -> list[str]:
    """Paths inside the chart folder that a scaffold writes."""
    prefix = CHART_TEMPLATES + "/"
    rendered = [t.removeprefix(prefix).removesuffix(".j2") for t in chart_templates()]
    return sorted([*rendered, CONFIG_FILE, CADDYFILE])


def document_folders() -> list[dict[str, str]]:
    """The runtime document folders with their volume names and default sizes."""
    return [{"name": name, "volume": name.replace(".", "-"), "size": size}
            for name, size in DOCUMENT_FOLDERS]


def chart_config_text(source: Path) -> str:
    """The trimmed runtime config for the chart, secret options blanked.

    A chart is shared (packaged, pushed): secret values reach the pods from a
    Secret through `envFromSecret`, never from the ConfigMap.
    """
    doc, problems = read_yaml(source)
    if problems:
        raise ConfigError(problems)
    trim_document(doc)
    for section, option in SECRET_OPTIONS:
        options = doc.get(section)
        if options is not None and options.get(option):
            options[option] = ""
    out = io.StringIO()
    out.write(f"# Runtime configuration of {doc['package']['name']}, trimmed from "
              f"{source.name} by Axion Build; secrets come from the environment.\n")
    yaml_rt().dump(doc, out)
    return out.getvalue()


def render_k3s(cfg: PackageConfig, tag: str, digests: dict[str, str] | None = None
               ) -> dict[str, str]:
    """The Caddyfile and every file of the chart under helm/<pkg>/ (nothing written);
    `digests` (target → `sha256:…`) pins each image to the build that pushed it."""
    digests = digests or {}
    caddyfile = render_caddyfile(cfg, "k3s")
    routed = routed_services(cfg)
    registry = "/".join(p.strip("/") for p in (cfg.registry.url, cfg.registry.namespace) if p)
    context = {
        "package": cfg.name, "config_name": cfg.path.name, "chart_version": CHART_VERSION,
        "tag": tag, "registry": registry, "document_folders": document_folders(),
        "services": [{"name": s.name, "image": f"{cfg.name}-{s.name}", "port": s.port,
                      "route": s.route, "digest": digests.get(s.name, "")}
                     for s in cfg.services],
        "caddy_image": f"{cfg.name}-caddy", "caddy_digest": digests.get("caddy", ""),
        "keys_dir": str(cfg.app_root / "data.config"),
        "service_names": ", ".join(s.name for s in cfg.services),
        "probe_path": (routed[0].route.rstrip("/") + "/health") if routed else "/",
    }
    env = chart_environment()
    prefix = CHART_TEMPLATES + "/"
    chart = {template.removeprefix(prefix).removesuffix(".j2"):
             env.get_template(template).render(**context) for template in chart_templates()}
    chart[CONFIG_FILE] = chart_config_text(cfg.path)
    chart[CADDYFILE] = caddyfile
    return {"Caddyfile": caddyfile, **{f"helm/{cfg.name}/{p}": t for p, t in chart.items()}}
