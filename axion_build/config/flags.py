"""The seed's pipeline flags, from doit variables (`skip_push=1`) or `AXION_FLAG_*`.

A misspelt variable or a value that is not a yes or a no stops the run before any task:
a flag read wrongly would push what was meant to stay local.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass

from axion_build.config.model import PLATFORMS

FLAG_NAMES = ("skip_compile", "skip_push", "skip_deploy", "pull_bases", "expect_noop", "notify",
              "platform", "service", "no_build_cache")
SWITCHES = ("skip_compile", "skip_push", "skip_deploy", "pull_bases", "expect_noop",
            "no_build_cache")
BOOL_WORDS = {"1": True, "true": True, "yes": True, "on": True,
              "0": False, "false": False, "no": False, "off": False, "": False}
ALLOWED = "1, 0, true, false, yes, no, on or off"


class FlagError(ValueError):
    """Flags that cannot be read: every bad variable, named, with what it allows."""


@dataclass(frozen=True)
class Flags:
    """What this run was asked to skip, notify, target or limit itself to."""

    skip_compile: bool = False
    skip_push: bool = False
    skip_deploy: bool = False
    pull_bases: bool = False  # pull registry base images again, even when present
    expect_noop: bool = False  # any task with work to do fails the run (and does not run)
    notify: str = ""
    platform: str = ""
    service: str = ""
    no_build_cache: bool = False  # images that are built, built without BuildKit's cache

    def as_dict(self) -> dict[str, object]:
        """Flags as a plain mapping, for the run record."""
        return asdict(self)


def truthy(text: str) -> bool:
    """A flag value meaning 'on'."""
    return text.strip().lower() in ("1", "true", "yes", "on")


def flag_problems(values: Mapping[str, str],
                  label: Callable[[str], str] = "doit variable {}".format) -> list[str]:
    """Why these raw flag values cannot be used, one line each, named by `label` (pure)."""
    problems = []
    for name, value in values.items():
        where = label(name)
        text = str(value).strip()
        if name not in FLAG_NAMES:
            problems.append(f"{where}: unknown flag (use one of: {', '.join(FLAG_NAMES)})")
        elif name in SWITCHES and text.lower() not in BOOL_WORDS:
            problems.append(f"{where}: {text!r} is not a yes or a no (use {ALLOWED})")
        elif name == "platform" and text:
            bad = [p.strip() for p in text.split(",") if p.strip() not in PLATFORMS]
            if bad:
                problems.append(f"{where}: unsupported platform {', '.join(bad)} (supported: "
                                f"{', '.join(PLATFORMS)}, comma-separated)")
        elif name == "notify" and any("@" not in a for a in text.replace(";", ",").split(",")
                                      if a.strip()):
            problems.append(f"{where}: {text!r} is not a list of mail addresses "
                            "(use notify=ops@example.com,dev@example.com)")
    return problems


def parse_flags(values: Mapping[str, str]) -> Flags:
    """Flags from raw string values (pure); FlagError names every bad one."""
    problems = flag_problems(values)
    if problems:
        raise FlagError("\n".join(problems))
    return Flags(
        skip_compile=BOOL_WORDS[values.get("skip_compile", "").strip().lower()],
        skip_push=BOOL_WORDS[values.get("skip_push", "").strip().lower()],
        skip_deploy=BOOL_WORDS[values.get("skip_deploy", "").strip().lower()],
        pull_bases=BOOL_WORDS[values.get("pull_bases", "").strip().lower()],
        expect_noop=BOOL_WORDS[values.get("expect_noop", "").strip().lower()],
        notify=values.get("notify", "").strip(),
        platform=values.get("platform", "").strip(),
        service=values.get("service", "").strip(),
        no_build_cache=BOOL_WORDS[values.get("no_build_cache", "").strip().lower()],
    )


def given_values(variables: Mapping[str, str], environ: Mapping[str, str]) -> dict[str, str]:
    """Raw flag values: doit command-line variables first, then `AXION_FLAG_*` (pure);
    FlagError for any unknown or bad one, in either place."""
    env = {k.removeprefix("AXION_FLAG_").lower(): v for k, v in environ.items()
           if k.startswith("AXION_FLAG_")}
    problems = [*flag_problems(variables),
                *flag_problems(env, lambda name: f"environment variable AXION_FLAG_{name.upper()}")]
    if problems:
        raise FlagError("\n".join(problems))
    return {**env, **{k: str(v) for k, v in variables.items()}}


def current_flags() -> Flags:
    """Flags of this run; doit stops with every bad variable named (no task runs)."""
    from doit import doit_cmd
    from doit.exceptions import InvalidCommand

    # doit keeps every `name=value` of its command line here; get_var would only
    # answer for names asked about, so a misspelt flag would pass unseen
    variables = dict(doit_cmd._CMDLINE_VARS or {})
    try:
        return parse_flags(given_values(variables, os.environ))
    except FlagError as exc:
        raise InvalidCommand(f"{exc}\nnothing was run") from None


def cache_sides(cfg) -> tuple[bool, bool]:
    """(pull, push) of the registry cache in this run: `cache.push` unset pushes unless
    the run skips the push."""
    push = cfg.cache.push if cfg.cache.push is not None else not current_flags().skip_push
    return cfg.cache.pull, push
