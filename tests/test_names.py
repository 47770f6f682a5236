"""Naming rules: one place builds every registry repository of a package."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from axion_build.config.load import parse_config
from axion_build.config.model import PackageConfig, RegistrySpec
from axion_build.names import image_repository, repository_path, repository_prefix
from axion_build.publish.push import push_ref, repository


def package(name: str, url: str, namespace: str) -> PackageConfig:
    """A config that differs from the defaults only in its name and registry."""
    base = parse_config({"package": {"name": name, "app_root": "."},
                         "compile": {"factory_sets": ["factory.core"]},
                         "services": {"report": {"script": "ServeReport.py"}}},
                        Path("config") / f"{name}.yaml")
    return replace(base, registry=RegistrySpec(url=url, namespace=namespace))


@pytest.mark.parametrize(
    ("url", "namespace", "path", "ref"),
    [
        ("127.0.0.1:5000", "axion", "axion/shop-report", "127.0.0.1:5000/axion/shop-report"),
        ("127.0.0.1:5000/", "/team/", "team/shop-report", "127.0.0.1:5000/team/shop-report"),
        ("127.0.0.1:5000", "", "shop-report", "127.0.0.1:5000/shop-report"),
    ],
)
def test_every_repository_name_comes_from_one_rule(url, namespace, path, ref):
    cfg = package("shop", url, namespace)
    assert repository_path(cfg, "report") == repository(cfg, "report") == path
    assert image_repository(cfg, "report") == push_ref(cfg, "report") == ref
    assert path.startswith(repository_prefix(cfg))


def test_a_package_prefix_does_not_match_another_package():
    prefix = repository_prefix(package("homechoice", "127.0.0.1:5000", "axion"))
    assert "axion/homechoice-report".startswith(prefix)
    assert not "axion/homechoice2-report".startswith(prefix)


def test_an_unknown_service_is_named_with_the_packages_images(tmp_path):
    """`--service nosuch` fails naming the service and the images that exist, in place of
    doit's "Task dependency ... does not exist"."""
    from workspace import make_workspace

    ws = make_workspace(tmp_path)
    done = ws.doit("pipeline:shop", "service=nosuch", "skip_push=1")
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert ("--service nosuch: shop has no service 'nosuch' (config/shop.yaml); its images: "
            "runtime, shop, stock, caddy") in output
    assert "does not exist" not in output
