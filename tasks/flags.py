"""The seed's pipeline flags, from doit variables (`skip_push=1`) or `AXION_FLAG_*`."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

FLAG_NAMES = ("skip_compile", "skip_push", "skip_deploy", "notify", "platform", "service")


@dataclass(frozen=True)
class Flags:
    """What this run was asked to skip, notify, target or limit itself to."""

    skip_compile: bool = False
    skip_push: bool = False
    skip_deploy: bool = False
    notify: str = ""
    platform: str = ""
    service: str = ""

    def as_dict(self) -> dict[str, object]:
        """Flags as a plain mapping, for the run record."""
        return asdict(self)


def truthy(text: str) -> bool:
    """A flag value meaning 'on'."""
    return text.strip().lower() in ("1", "true", "yes", "on")


def parse_flags(values: dict[str, str]) -> Flags:
    """Flags from raw string values (pure)."""
    return Flags(
        skip_compile=truthy(values.get("skip_compile", "")),
        skip_push=truthy(values.get("skip_push", "")),
        skip_deploy=truthy(values.get("skip_deploy", "")),
        notify=values.get("notify", "").strip(),
        platform=values.get("platform", "").strip(),
        service=values.get("service", "").strip(),
    )


def current_flags() -> Flags:
    """Flags of this run: doit command-line variables first, then the environment."""
    from doit import get_var

    values = {}
    for name in FLAG_NAMES:
        env = os.environ.get(f"AXION_FLAG_{name.upper()}", "")
        values[name] = str(get_var(name, env) or "")
    return parse_flags(values)
