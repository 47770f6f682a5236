"""The warnings a run's tasks return among their values (the registry cache's), once each.

A task's own output may be captured (doit's verbosity, a worker process), so what the
cache warned of would live only in a step record: the reporter prints these at the end
of the run and the report shows them (pure).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def value_warnings(values: Mapping[str, Any] | None) -> list[str]:
    """The warnings among one task's values: `cache_warning`, `registry_cache.warnings`."""
    values = values or {}
    found = [values.get("cache_warning")]
    cache = values.get("registry_cache")
    if isinstance(cache, Mapping) and isinstance(cache.get("warnings"), list):
        found += cache["warnings"]
    return [str(w) for w in found if w]


def run_warnings(all_values: Iterable[Mapping[str, Any] | None]) -> list[str]:
    """Every distinct warning of a run's tasks, in the order they came."""
    return list(dict.fromkeys(w for values in all_values for w in value_warnings(values)))
