"""Naming rules in one place: where a package's images live in its registry."""

from __future__ import annotations

from axion_build.config.model import PackageConfig


def repository_path(cfg: PackageConfig, target: str) -> str:
    """`<namespace>/<pkg>-<target>` in the registry (no namespace: `<pkg>-<target>`)."""
    return repository_prefix(cfg) + target


def repository_prefix(cfg: PackageConfig) -> str:
    """What every repository of the package starts with: `<namespace>/<pkg>-`."""
    namespace = cfg.registry.namespace.strip("/")
    return f"{namespace}/{cfg.name}-" if namespace else f"{cfg.name}-"


def image_repository(cfg: PackageConfig, target: str) -> str:
    """`<registry.url>/<namespace>/<pkg>-<target>` (target `caddy` for Caddy)."""
    return "/".join(filter(None, [cfg.registry.url.strip("/"), repository_path(cfg, target)]))
