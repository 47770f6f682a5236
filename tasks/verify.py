"""The verify stage: signatures, attestations and SBOM module hashes of every image of a
package in the registry."""

from __future__ import annotations

from collections.abc import Iterator

from axion_build.config.packages import PACKAGES
from axion_build.publish.verify import verify_package


def task_verify() -> Iterator[dict]:
    """Check each package's images in the registry: signed, attested, modules as compiled."""
    for cfg in PACKAGES.valid():
        yield {
            "name": cfg.name,
            "doc": f"verify the signatures, SBOMs and provenance of {cfg.name}'s images",
            "actions": [(verify_package, [cfg])],
            "uptodate": [False],  # the registry can change under any tag at any time
            "meta": {"axion": {"stage": "verify", "package": cfg.name}},
            "verbosity": 2,
        }
