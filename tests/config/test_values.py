"""Option values after environment overrides: input → exact problem, file line or variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from axion_build.config.env import apply_env
from axion_build.config.load import yaml_rt
from axion_build.config.values import value_problems, value_warnings

PATH = Path("config/shop.yaml")
BASE = "package:\n  name: shop\n  app_root: ../shop\n"


def problems_of(text: str, environ: dict[str, str], check=value_problems) -> list[str]:
    doc = yaml_rt().load(BASE + text)
    merged, env_problems = apply_env(doc, PATH, environ)
    assert env_problems == []
    return [str(p) for p in check(merged, doc, PATH, environ)]


ENV = "environment variable"
# (config text after package:, environment, exact problems)
BAD_VALUES = [
    ("database:\n  port: 70000\n", {},
     ["config/shop.yaml:5: database.port: port 70000 is out of range "
      "(fix: set database.port to a number from 1 to 65535)"]),
    ("smtp:\n  port: 25\n", {"AXION_SMTP_PORT": "0"},
     [f"{ENV} AXION_SMTP_PORT: smtp.port: port 0 is out of range (fix: set smtp.port to a "
      "number from 1 to 65535 (or unset AXION_SMTP_PORT))"]),
    ("deployment:\n  substrate: compose\n", {"AXION_DEPLOYMENT_SUBSTRATE": "swarm"},
     [f"{ENV} AXION_DEPLOYMENT_SUBSTRATE: deployment.substrate: unknown substrate 'swarm' "
      "(fix: use one of: compose, k3s, supervisor (or unset AXION_DEPLOYMENT_SUBSTRATE))"]),
    ("", {"AXION_DEPLOYMENT_PLATFORM": "linux/amd64,linux/s390x"},
     [f"{ENV} AXION_DEPLOYMENT_PLATFORM: deployment.platform: unknown platform 'linux/s390x' "
      "(fix: use linux/amd64 or linux/arm64, comma-separated "
      "(or unset AXION_DEPLOYMENT_PLATFORM))"]),
    ("registry:\n  url: http://127.0.0.1:5000\n", {},
     ["config/shop.yaml:5: registry.url: 'http://127.0.0.1:5000' has a scheme (fix: write it "
      "as host[:port] ('127.0.0.1:5000'); registry.insecure: true selects plain http)"]),
    ("registry:\n  url: my registry\n", {},
     ["config/shop.yaml:5: registry.url: 'my registry' is not a registry address "
      "(fix: write it as host[:port], e.g. 127.0.0.1:5000)"]),
    ("registry:\n  url: 127.0.0.1:99999\n", {},
     ["config/shop.yaml:5: registry.url: '127.0.0.1:99999' is not a registry address "
      "(fix: write it as host[:port], e.g. 127.0.0.1:5000)"]),
    ("", {"AXION_REGISTRY_URL": "127.0.0.1:5000;rm"},
     [f"{ENV} AXION_REGISTRY_URL: registry.url: '127.0.0.1:5000;rm' is not a registry "
      "address (fix: write it as host[:port], e.g. 127.0.0.1:5000 (or unset "
      "AXION_REGISTRY_URL))"]),
    ("registry:\n  namespace: Team A\n", {},
     ["config/shop.yaml:5: registry.namespace: 'Team A' is not a repository namespace "
      "(fix: use lower-case letters, digits and '.', '_', '-' or '/' between them)"]),
    ("", {"AXION_PACKAGE_NAME": "../../etc"},
     [f"{ENV} AXION_PACKAGE_NAME: package.name: '../../etc' is not a valid package name "
      "(fix: use lower-case letters, digits, '-' and '_', starting and ending with a letter "
      "or digit (at most 63) (or unset AXION_PACKAGE_NAME))"]),
    ("", {"AXION_PACKAGE_NAME": "other"},
     [f"{ENV} AXION_PACKAGE_NAME: package.name: 'other' does not match the file name "
      "shop.yaml (fix: rename the file to other.yaml or set name: shop "
      "(or unset AXION_PACKAGE_NAME))"]),
    ("services:\n  web ui:\n    script: ServeWeb.py\n", {},
     ["config/shop.yaml:5: services.web ui: 'web ui' is not a valid service name (fix: use "
      "lower-case letters, digits, '-' and '_', starting and ending with a letter or digit "
      "(at most 63))"]),
    ('services:\n  "a;b":\n    script: ServeWeb.py\n  "x\\ny":\n    script: ServeWeb.py\n', {},
     ["config/shop.yaml:5: services.a;b: 'a;b' is not a valid service name (fix: use "
      "lower-case letters, digits, '-' and '_', starting and ending with a letter or digit "
      "(at most 63))",
      "config/shop.yaml:7: services.x\ny: 'x\\ny' is not a valid service name (fix: use "
      "lower-case letters, digits, '-' and '_', starting and ending with a letter or digit "
      "(at most 63))"]),
    ("smtp:\n  user: builder\n  password: long-enough-secret\n", {},
     ["config/shop.yaml:5: smtp.user: credentials would be sent without TLS (fix: set "
      "smtp.starttls: true (the server must offer STARTTLS), or remove smtp.user and "
      "smtp.password)"]),
    ("smtp:\n  starttls: false\n", {"AXION_SMTP_PASSWORD": "long-enough-secret"},
     [f"{ENV} AXION_SMTP_PASSWORD: smtp.password: credentials would be sent without TLS "
      "(fix: set smtp.starttls: true (the server must offer STARTTLS), or remove smtp.user "
      "and smtp.password (or unset AXION_SMTP_PASSWORD))"]),
]


@pytest.mark.parametrize(("text", "environ", "expected"), BAD_VALUES)
def test_each_bad_value_gives_its_exact_problem(text, environ, expected):
    assert problems_of(text, environ) == expected


@pytest.mark.parametrize("text", [
    "registry:\n  url: registry.example.com\n  namespace: team/axion\n",
    "registry:\n  url: localhost:5000\n",
    "registry:\n  url: '[::1]:5000'\n",
    "smtp:\n  starttls: true\n  user: builder\n  password: long-enough-secret\n",
    "database:\n  port: 3306\nsmtp:\n  port: 587\n",
    "services:\n  web_ui-2:\n    script: ServeWeb.py\n",
])
def test_good_values_have_no_problem(text):
    assert problems_of(text, {}) == []


def test_secrets_too_short_for_the_guard_are_warned_about_by_field():
    warnings = problems_of("database:\n  password: short\n", {"AXION_REGISTRY_PASSWORD": "abc"},
                           check=value_warnings)
    guard = ("shorter than 8 characters, so the image secret guard cannot search images for "
             "it (it would match by chance)")
    assert warnings == [
        f"config/shop.yaml:5: database.password: {guard} "
        "(fix: use a database password of at least 8 characters)",
        f"{ENV} AXION_REGISTRY_PASSWORD: registry.password: {guard} (fix: use a registry "
        "password of at least 8 characters (or unset AXION_REGISTRY_PASSWORD))"]
    assert problems_of("database:\n  password: eight-ch\n", {}, check=value_warnings) == []
