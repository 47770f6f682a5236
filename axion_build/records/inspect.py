"""The CLI's read-only verbs: explain the last run, its JSON summary, the registry."""

from __future__ import annotations

import json
import sys

from axion_build.config.packages import PACKAGES
from axion_build.config.problems import ConfigError
from axion_build.names import repository_prefix


def registry_lines(package: str) -> list[str]:
    """The package's repositories in the registry: tags, digests, sizes, platforms."""
    from axion_build.adapters.registry import overview

    cfg = PACKAGES.get(package)
    seen = overview(cfg.registry, prefix=repository_prefix(cfg))
    if not seen.reachable:
        return [f"registry {seen.url} unreachable: {seen.error}"]
    lines = [f"registry {seen.url}: {len(seen.repositories)} repositories of {cfg.name}"]
    for tag in seen.tags:
        where = f"{tag.repository}:{tag.tag}"
        if tag.error:
            lines.append(f"  {where}  error: {tag.error}")
        else:
            lines.append(f"  {where:58} {tag.digest[:19]}  {tag.size / 1e6:7.1f} MB  "
                         f"{', '.join(tag.platforms)}  {'signed' if tag.signed else 'unsigned'}")
    return lines


def inspect_command(verb: str, package: str) -> int:
    """Run `explain`, `summary` or `registry` for a package; the exit status."""
    from axion_build.records.report import explain_last_run, summary_json

    cfg = PACKAGES.get(package)
    if isinstance(cfg, ConfigError):
        print(cfg.report(), file=sys.stderr)
        return 2
    try:
        if verb == "explain":
            print(explain_last_run(cfg))
        elif verb == "summary":
            print(json.dumps(summary_json(cfg), indent=2, default=str))
        else:
            print("\n".join(registry_lines(package)))
    except LookupError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0
