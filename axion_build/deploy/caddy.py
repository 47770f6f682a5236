"""The Caddy front: a Caddyfile routing each HTTP service, and the Caddy image's context."""

from __future__ import annotations

from dataclasses import dataclass

from axion_build.config.model import PackageConfig, ServiceSpec, native_platform
from axion_build.render import render

CADDYFILE_TEMPLATE = "caddy/Caddyfile.j2"
DOCKERFILE_TEMPLATE = "caddy/caddy.dockerfile.j2"
# inside a container Caddy owns the standard ports
CONTAINER_PORTS = (80, 443)


@dataclass(frozen=True)
class Route:
    """One HTTP service as Caddy sees it: path prefix, upstream variable and default."""

    name: str
    path: str
    variable: str
    upstream: str


def upstream_variable(service: str) -> str:
    """`UPSTREAM_<SERVICE>`: the environment variable naming a service's upstream."""
    return "UPSTREAM_" + "".join(c if c.isalnum() else "_" for c in service).upper()


def routed_services(cfg: PackageConfig) -> list[ServiceSpec]:
    """Services that have both an HTTP route and a port."""
    return [s for s in cfg.services if s.route and s.port]


def caddy_routes(cfg: PackageConfig, upstream_host: str | None) -> tuple[list[Route], Route | None]:
    """Prefix routes (longest first, so nested prefixes win) and the `/` fallback.

    `upstream_host` None means each service's own name (container DNS), else a fixed host.
    """
    routes, fallback = [], None
    for spec in routed_services(cfg):
        host = spec.name if upstream_host is None else upstream_host
        route = Route(name=spec.name.replace("-", "_"), path=spec.route.rstrip("/"),
                      variable=upstream_variable(spec.name), upstream=f"{host}:{spec.port}")
        if route.path:
            routes.append(route)
        else:
            fallback = route
    routes.sort(key=lambda r: (-len(r.path), r.path))
    return routes, fallback


def render_caddyfile(cfg: PackageConfig, substrate: str, *, upstream_host: str | None = None,
                     ports: tuple[int, int] = CONTAINER_PORTS,
                     admin: str = "localhost:2019") -> str:
    """The Caddyfile text for `substrate`; upstream defaults overridable by UPSTREAM_*."""
    routes, fallback = caddy_routes(cfg, upstream_host)
    return render(CADDYFILE_TEMPLATE, package=cfg.name, substrate=substrate,
                  config_name=cfg.path.name, routes=routes, fallback=fallback,
                  http_port=ports[0], https_port=ports[1], admin=admin)


def upstream_defaults(cfg: PackageConfig, upstream_host: str | None = None) -> dict[str, str]:
    """`UPSTREAM_<SERVICE>` → default upstream, for each routed service."""
    routes, fallback = caddy_routes(cfg, upstream_host)
    return {r.variable: r.upstream for r in [*routes, *([fallback] if fallback else [])]}


def caddy_image_context(cfg: PackageConfig, platform: str = "",
                        fetcher: tuple[str, str] | None = None) -> dict[str, str]:
    """Build context of the `axion-caddy:<pkg>` image: its Dockerfile and Caddyfile.

    `fetcher`: (platform, image) of the builder that fetches and unpacks the platform's
    Caddy package (the host's for a foreign platform, so it runs nothing under
    emulation); by default the platform's own builder.
    """
    platform = platform or native_platform()
    fetch_platform, fetch_image = fetcher or (platform, cfg.images.builder_for(platform))
    return {
        "Dockerfile": render(DOCKERFILE_TEMPLATE, package=cfg.name,
                             base_runtime_image=cfg.images.runtime_for(platform),
                             arch=platform.split("/")[-1], fetch_platform=fetch_platform,
                             fetch_image=fetch_image,
                             environment={"CADDY_DOMAIN": "localhost",
                                          **upstream_defaults(cfg)}),
        "Caddyfile": render_caddyfile(cfg, "container image"),
    }
