"""Scaffold stage: compose, Helm chart, supervisord and Caddyfiles, checked with the real tools.

Pure parts (image references, routes, input problems) are tables; the generated
files go through `caddy validate`, Helm's lint and template, `docker compose
config`, a real supervisord running the example app behind Caddy, and real doit
runs for incrementality. The compose `up` test needs the images the image stage
builds and skips without them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from loopback import free_ports, get

from axion_build.adapters.fs import write_files
from axion_build.build.keys import provision_keys
from axion_build.config.load import load_config, yaml_rt
from axion_build.config.model import PackageConfig, ServiceSpec, native_platform
from axion_build.config.problems import ConfigError
from axion_build.config.runtime import runtime_config_path, write_runtime_config
from axion_build.deploy.caddy import caddy_image_context, caddy_routes, upstream_variable
from axion_build.deploy.scaffold import (
    ScaffoldOptions,
    deploy_dir,
    image_ref,
    output_paths,
    render_scaffold,
    resolve_options,
    scaffold,
    scaffold_problems,
)
from needs import importorfail, needs
from workspace import ROOT

APP = ROOT / "examples" / "homechoice"
PACKAGE_CONFIG = ROOT / "config" / "homechoice.yaml"
PACKAGE = "homechoice"
SUBSTRATES = ("compose", "k3s", "supervisor")
HTTP_SERVICES = ("report", "webhook", "web", "conversation", "ai")
SECRET = "s3cret-Password-never-written"
DOMAIN_ENV = {"CADDY_DOMAIN": "axion.example.com", "ACME_EMAIL": "ops@example.com"}
needs_app = pytest.mark.skipif(not (APP / "ServeReport.py").is_file(),
                               reason="the example app examples/homechoice is not there")


# ---------------------------------------------------------------- helpers

def write_config(folder: Path, app: Path, *, ports: dict[str, int] | None = None,
                 keep: list[str] | None = None, **sections: dict) -> Path:
    """The homechoice config, pointed at `app` and a build folder beside it, edited
    (services moved to `ports`, only the services in `keep`, sections updated)."""
    doc = yaml_rt().load(PACKAGE_CONFIG.read_text(encoding="utf-8"))
    doc["package"]["app_root"] = str(app)
    doc["build"]["folder"] = str(folder / "build")
    for name in [n for n in doc["services"] if keep is not None and n not in keep]:
        del doc["services"][name]
    for name, port in (ports or {}).items():
        spec = doc["services"][name]
        old = str(spec["port"])
        spec["args"] = [str(port) if str(a) == old else a for a in spec.get("args") or []]
        spec["port"] = port
    for section, values in sections.items():
        doc.setdefault(section, {}).update(values)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{PACKAGE}.yaml"
    with path.open("w", encoding="utf-8") as handle:
        yaml_rt().dump(doc, handle)
    return path


def package(folder: Path, app: Path, environ: dict | None = None, **edits) -> PackageConfig:
    """A loaded config whose trimmed runtime config.yaml is written, as after `config:`."""
    cfg = load_config(write_config(folder, app, **edits), environ=environ or {})
    write_runtime_config(cfg.path, runtime_config_path(cfg.build_dir))
    return cfg


def caddy_validate(path: Path, **env: str) -> subprocess.CompletedProcess:
    """`caddy validate` of a Caddyfile with the given environment."""
    full = {**os.environ, "XDG_DATA_HOME": str(path.parent / ".caddy-data"),
            "XDG_CONFIG_HOME": str(path.parent / ".caddy-config"), **env}
    return subprocess.run(["caddy", "validate", "--config", str(path), "--adapter", "caddyfile"],
                          capture_output=True, text=True, env=full, timeout=60)


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Content and mtime of every file under `folder`."""
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def wait_for(url: str, seconds: float) -> tuple[int, bytes]:
    """GET `url` until it answers 200 or `seconds` pass; the last answer."""
    deadline, last = time.monotonic() + seconds, (0, b"")
    while time.monotonic() < deadline:
        try:
            last = get(url, timeout=2)
            if last[0] == 200:
                return last
        except OSError as exc:
            last = (0, str(exc).encode())
        time.sleep(0.2)
    return last


def docker_compose_ok() -> bool:
    """Whether a Docker engine and the compose plugin answer."""
    if not shutil.which("docker"):
        return False
    checks = (["docker", "info"], ["docker", "compose", "version"])
    return all(subprocess.run(c, capture_output=True, timeout=30).returncode == 0
               for c in checks)


@pytest.fixture(scope="module")
def app(tmp_path_factory) -> Path:
    """A copy of the example app with its own key pair."""
    if not (APP / "ServeReport.py").is_file():
        pytest.skip("the example app examples/homechoice is not there")
    target = tmp_path_factory.mktemp("app") / PACKAGE
    shutil.copytree(APP, target, ignore=shutil.ignore_patterns(
        "__pycache__", "data.config", "*.documents"))
    provision_keys(target / "data.config", PACKAGE)
    return target


@pytest.fixture
def cfg(tmp_path, app) -> PackageConfig:
    """The homechoice config over the copied app, with a secret set from the environment."""
    return package(tmp_path / "config", app, environ={"AXION_DATABASE_PASSWORD": SECRET})


# ---------------------------------------------------------------- pure tables

def bare_config(tmp_path: Path, services: tuple[ServiceSpec, ...], **kwargs) -> PackageConfig:
    """A config built in memory (no file), for the pure tables."""
    from axion_build.config.model import CompileSpec, RegistrySpec

    return PackageConfig(name=PACKAGE, path=tmp_path / f"{PACKAGE}.yaml", app_root=tmp_path,
                         build_root=tmp_path / "build", services=services,
                         compile=CompileSpec(factory_sets=("factory.core",)),
                         registry=kwargs.get("registry", RegistrySpec()))


@pytest.mark.parametrize("url, namespace, service, tag, expected", [
    ("127.0.0.1:5000", "axion", "report", "latest",
     "127.0.0.1:5000/axion/homechoice-report:latest"),
    ("registry.example.com/", "axion", "caddy", "b42",
     "registry.example.com/axion/homechoice-caddy:b42"),
    ("127.0.0.1:5000", "", "web", "latest", "127.0.0.1:5000/homechoice-web:latest"),
])
def test_image_ref(tmp_path, url, namespace, service, tag, expected):
    from axion_build.config.model import RegistrySpec

    cfg = bare_config(tmp_path, (), registry=RegistrySpec(url=url, namespace=namespace))
    assert image_ref(cfg, service, tag) == expected


@pytest.mark.parametrize("name, variable", [
    ("report", "UPSTREAM_REPORT"), ("web-hook", "UPSTREAM_WEB_HOOK"), ("ai2", "UPSTREAM_AI2"),
])
def test_upstream_variable(name, variable):
    assert upstream_variable(name) == variable


def test_routes_longest_prefix_first_and_web_is_the_fallback(tmp_path):
    cfg = bare_config(tmp_path, (
        ServiceSpec("web", "ServeWebsite.py", port=9000, route="/"),
        ServiceSpec("api", "ServeApi.py", port=9100, route="/api"),
        ServiceSpec("admin", "ServeAdmin.py", port=9200, route="/api/admin/"),
        ServiceSpec("worker", "ServeWorker.py"),
    ))
    routes, fallback = caddy_routes(cfg, None)
    assert [(r.path, r.upstream) for r in routes] == [("/api/admin", "admin:9200"),
                                                      ("/api", "api:9100")]
    assert fallback.variable == "UPSTREAM_WEB" and fallback.upstream == "web:9000"
    routes, fallback = caddy_routes(cfg, "127.0.0.1")
    assert routes[0].upstream == "127.0.0.1:9200"


def problems_of(cfg, substrate="compose", options=None, environ=None):
    resolved = resolve_options(cfg, options or ScaffoldOptions())
    return [str(p) for p in scaffold_problems(cfg, substrate, resolved, None, environ or {})]


@pytest.mark.parametrize("services, substrate, environ, expected", [
    ((ServiceSpec("web", "ServeWebsite.py", port=9000, route="/"),), "swarm", {},
     r"deployment\.substrate: unknown substrate 'swarm' "
     r"\(fix: use one of: compose, k3s, supervisor\)"),
    ((ServiceSpec("web", "ServeWebsite.py", port=9000, route="/"),), "swarm",
     {"AXION_DEPLOYMENT_SUBSTRATE": "swarm"},
     r"^environment variable AXION_DEPLOYMENT_SUBSTRATE: deployment\.substrate: unknown"),
    ((ServiceSpec("a", "ServeA.py", port=9000), ServiceSpec("b", "ServeB.py", port=9000)),
     "compose", {}, r"services\.b\.port: port 9000 is already used by service 'a'"),
    ((ServiceSpec("a", "ServeA.py", port=8080),), "supervisor", {},
     r"services\.a\.port: port 8080 is already used by Caddy \(HTTP\)"),
    ((ServiceSpec("a", "", port=9000),), "compose", {}, r"services\.a\.script: no entry script"),
    ((ServiceSpec("a", "ServeA.py", port=9000),), "supervisor", {},
     r"services\.a\.script: ServeA\.py not found in "),
    ((ServiceSpec("a", "ServeA.py", route="/a"),), "compose", {},
     r"services\.a\.route: a routed service needs a port"),
    ((ServiceSpec("a", "ServeA.py", port=9000, route="/x"),
      ServiceSpec("b", "ServeB.py", port=9001, route="/x/")), "k3s", {},
     r"services\.b\.route: route '/x/' is already served by service 'a'"),
    ((ServiceSpec("Web_UI", "ServeWeb.py", port=9000),), "k3s", {},
     r"services\.Web_UI: 'Web_UI' is not a Kubernetes name"),
])
def test_bad_input_is_named(tmp_path, services, substrate, environ, expected):
    found = problems_of(bare_config(tmp_path, services), substrate, environ=environ)
    assert any(re.search(expected, p) for p in found), found


def test_good_input_has_no_problems(tmp_path):
    services = (ServiceSpec("web", "ServeWebsite.py", port=9000, route="/"),
                ServiceSpec("worker", "ServeWorker.py"))
    assert problems_of(bare_config(tmp_path, services), "k3s") == []
    assert problems_of(bare_config(tmp_path, services), "compose",
                       ScaffoldOptions(http_port=9000)) == []


def test_caddy_ports_must_differ(tmp_path):
    found = problems_of(bare_config(tmp_path, ()), "compose",
                        ScaffoldOptions(http_port=8080, https_port=8080))
    assert any("HTTP and HTTPS ports are both 8080" in p for p in found)


def test_problem_names_file_and_line(tmp_path, app):
    path = write_config(tmp_path, app, deployment={"substrate": "compose"})
    cfg = load_config(path, environ={})
    doc = yaml_rt().load(path.read_text())
    bad = cfg.__class__(**{**cfg.__dict__, "services": (*cfg.services,
                           ServiceSpec("report2", "ServeReport.py", port=9400))})
    found = scaffold_problems(bad, "compose", resolve_options(bad, ScaffoldOptions()), doc, {})
    # report2 is not in the file: the nearest enclosing key names the line
    assert [str(p) for p in found] == [
        f"{path}:{line_with(path, 'services:')}: services.report2.port: port 9400 is already "
        "used by service 'report' (fix: give each its own)"]
    wrong = scaffold_problems(cfg, "swarm", resolve_options(cfg, ScaffoldOptions()), doc, {})
    assert (wrong[0].file, wrong[0].line) == (path, line_with(path, "substrate: compose"))


def line_with(path: Path, text: str) -> int:
    """1-based number of the first line of `path` that reads `text` (comments aside)."""
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1)
                if line.split("#")[0].strip() == text)


# ---------------------------------------------------------------- nothing half-written

def test_bad_input_leaves_previous_files_untouched(tmp_path, app, monkeypatch):
    cfg = package(tmp_path / "config", app)
    for substrate in SUBSTRATES:
        scaffold(cfg, substrate)
    before = snapshot(cfg.build_dir / "deploy")
    monkeypatch.setenv("AXION_SERVICES_WEB_PORT", "9400")
    bad = load_config(cfg.path)
    for substrate in SUBSTRATES:
        with pytest.raises(ConfigError) as raised:
            scaffold(bad, substrate)
        assert "environment variable AXION_SERVICES_WEB_PORT: services.web.port: port 9400 " \
               "is already used by service 'report'" in str(raised.value)
    assert snapshot(cfg.build_dir / "deploy") == before


def test_write_files_replaces_nothing_when_one_file_fails(tmp_path):
    write_files(tmp_path, {"a.txt": "old a", "blocker": "a file where a folder is wanted"})
    before = snapshot(tmp_path)
    with pytest.raises(OSError):
        write_files(tmp_path, {"a.txt": "new a", "blocker/b.txt": "new b"})
    assert snapshot(tmp_path) == before
    assert not list(tmp_path.rglob("*.partial"))


def test_second_scaffold_writes_nothing_and_stale_chart_files_go(tmp_path, app):
    cfg = package(tmp_path / "config", app)
    assert scaffold(cfg, "k3s")
    chart = deploy_dir(cfg, "k3s") / "helm" / PACKAGE
    (chart / "templates" / "removed.yaml").write_text("kind: Stale\n")
    assert scaffold(cfg, "k3s") == []
    assert not (chart / "templates" / "removed.yaml").exists()
    written = {str(p.relative_to(deploy_dir(cfg, "k3s")))
               for p in deploy_dir(cfg, "k3s").rglob("*") if p.is_file()}
    assert written == set(output_paths("k3s", PACKAGE))


# ---------------------------------------------------------------- Caddy

@pytest.mark.parametrize("substrate", SUBSTRATES)
@pytest.mark.parametrize("env", [{}, DOMAIN_ENV], ids=["localhost", "domain"])
def test_caddy_validates_every_caddyfile(tmp_path, cfg, substrate, env):
    caddyfile = tmp_path / "Caddyfile"
    caddyfile.write_text(render_scaffold(cfg, substrate, environ={})["Caddyfile"])
    done = caddy_validate(caddyfile, **env)
    assert done.returncode == 0, done.stderr
    assert "Valid configuration" in done.stdout + done.stderr


@pytest.mark.parametrize("env", [{}, DOMAIN_ENV], ids=["localhost", "domain"])
def test_caddy_image_context(tmp_path, cfg, env):
    context = caddy_image_context(cfg)
    dockerfile = context["Dockerfile"]
    assert f"\nFROM {cfg.images.runtime_for(native_platform())}\n" in dockerfile
    assert "apt-get download caddy:amd64" in dockerfile.replace(
        native_platform().split("/")[-1], "amd64")
    assert "COPY --from=fetch /caddy/usr/bin/caddy /usr/bin/caddy" in dockerfile
    assert "COPY Caddyfile /etc/caddy/Caddyfile" in dockerfile
    assert "CADDY_DOMAIN=localhost" in dockerfile and "UPSTREAM_REPORT=report:9400" in dockerfile
    (tmp_path / "Caddyfile").write_text(context["Caddyfile"])
    done = caddy_validate(tmp_path / "Caddyfile", **env)
    assert done.returncode == 0, done.stderr


def test_caddy_tls_follows_the_domain(tmp_path, cfg):
    caddyfile = tmp_path / "Caddyfile"
    caddyfile.write_text(render_scaffold(cfg, "compose", environ={})["Caddyfile"])

    def adapted(**env):
        full = {**os.environ, **env}
        done = subprocess.run(["caddy", "adapt", "--config", str(caddyfile), "--adapter",
                               "caddyfile"], capture_output=True, text=True, env=full, check=True)
        return json.loads(done.stdout)

    local = adapted()["apps"]["tls"]["automation"]["policies"][0]
    assert local == {"subjects": ["localhost"], "issuers": [{"module": "internal"}]}
    public = adapted(**DOMAIN_ENV)["apps"]["tls"]["automation"]["policies"][0]
    assert public["subjects"] == ["axion.example.com"]
    assert {"module": "acme", "email": "ops@example.com"} in public["issuers"]
    servers = adapted(CADDY_HTTP_PORT="8081")["apps"]["http"]["servers"].values()
    assert any(s["listen"] == [":8081"] for s in servers)


# ---------------------------------------------------------------- compose

def test_compose_file(cfg):
    files = render_scaffold(cfg, "compose", environ={})
    compose = yaml.safe_load(files["compose.yaml"])
    services = compose["services"]
    assert set(services) == {*(s.name for s in cfg.services), "caddy"}
    for spec in cfg.services:
        service = services[spec.name]
        assert service["image"] == image_ref(cfg, spec.name, "${AXION_IMAGE_TAG:-latest}")
        assert service["init"] is True and service["restart"] == "unless-stopped"
        env = service["environment"]
        assert env["AXION_HOME"] == "/axion" and env["AXION_SERVICE"] == spec.name
        assert "AXION_DATABASE_PASSWORD" in env and env["AXION_DATABASE_PASSWORD"] is None
        targets = {v["target"]: v for v in service["volumes"]}
        assert targets["/axion/config.yaml"]["read_only"] is True
        assert targets["/axion/data.config"]["read_only"] is True
        for folder in ("local.documents", "data.documents", "archive.documents"):
            assert targets[f"/axion/{folder}"]["type"] == "volume"
        if spec.port:
            test = service["healthcheck"]["test"]
            assert test[:3] == ["CMD", "python3", "-c"]
            assert f"http://127.0.0.1:{spec.port}/health" in test[3]
        else:
            assert "healthcheck" not in service
    caddy = services["caddy"]
    assert caddy["ports"] == ["${CADDY_HOST_HTTP_PORT:-8080}:80",
                              "${CADDY_HOST_HTTPS_PORT:-8443}:443"]
    assert caddy["environment"]["UPSTREAM_REPORT"] == "${UPSTREAM_REPORT:-report:9400}"
    assert caddy["image"] == image_ref(cfg, "caddy", "${AXION_IMAGE_TAG:-latest}")


@pytest.mark.parametrize("substrate", SUBSTRATES)
def test_no_secret_or_key_material_is_written(cfg, substrate):
    assert cfg.database.password == SECRET
    key_text = (cfg.app_root / "data.config" / f"{PACKAGE}_private.pem").read_text()
    key_body = key_text.splitlines()[1]
    for name, text in render_scaffold(cfg, substrate, environ={}).items():
        assert SECRET not in text, name
        assert "PRIVATE KEY" not in text and key_body not in text, name


def test_chart_blanks_secrets_written_in_the_config_file(tmp_path, app):
    cfg = package(tmp_path / "config", app, database={"password": SECRET})
    files = render_scaffold(cfg, "k3s", environ={})
    chart_config = yaml.safe_load(files[f"helm/{PACKAGE}/files/config.yaml"])
    assert chart_config["database"]["password"] == ""
    assert all(SECRET not in text for text in files.values())


@needs(docker_compose_ok(), "no Docker engine with the compose plugin")
def test_docker_compose_config_accepts_the_file(cfg):
    scaffold(cfg, "compose")
    folder = deploy_dir(cfg, "compose")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AXION_", "CADDY_"))}
    done = subprocess.run(["docker", "compose", "-f", "compose.yaml", "config", "--format", "json"],
                          cwd=folder, capture_output=True, text=True, timeout=60,
                          env={**env, "AXION_DATABASE_HOST": "db.example.com",
                               "CADDY_HOST_HTTP_PORT": "80"})
    assert done.returncode == 0, done.stderr
    resolved = json.loads(done.stdout)
    report = resolved["services"]["report"]
    assert report["environment"]["AXION_DATABASE_HOST"] == "db.example.com"
    assert report["environment"]["AXION_DATABASE_PASSWORD"] is None
    sources = {v["target"]: Path(v["source"]) for v in report["volumes"] if v["type"] == "bind"}
    assert sources["/axion/config.yaml"] == runtime_config_path(cfg.build_dir).resolve()
    assert sources["/axion/data.config"] == (cfg.app_root / "data.config").resolve()
    assert resolved["services"]["caddy"]["ports"][0]["published"] == "80"
    assert report["image"] == image_ref(cfg, "report")


# ---------------------------------------------------------------- Helm chart

def test_helm_chart_lints_and_renders(tmp_path, cfg):
    helm = importorfail("helm_python", "pip install helm-python-sdk")
    scaffold(cfg, "k3s")
    chart = deploy_dir(cfg, "k3s") / "helm" / PACKAGE
    report = helm.lint(str(chart), strict=True)
    assert report["errors"] == [] and all(m["severity"] < 2 for m in report["messages"]), report
    with helm.Chart.load(str(chart)) as loaded:
        rendered = loaded.render(name=PACKAGE, namespace="axion", is_install=True)
        tagged = loaded.render({"image": {"tag": "b42"}, "envFromSecret": "hc-env"},
                               name="hc", namespace="axion")
    objects = [doc for name, text in rendered.items() if name.endswith(".yaml")
               for doc in yaml.safe_load_all(text) if isinstance(doc, dict)]
    by_kind: dict[str, dict[str, dict]] = {}
    for obj in objects:
        by_kind.setdefault(obj["kind"], {})[obj["metadata"]["name"]] = obj
    assert set(by_kind) == {"Deployment", "Service", "ConfigMap", "PersistentVolumeClaim"}
    assert "Secret" not in by_kind
    names = [s.name for s in cfg.services]
    assert set(by_kind["Deployment"]) == {f"{PACKAGE}-{n}" for n in [*names, "caddy"]}
    routed = [s for s in cfg.services if s.port]
    assert set(by_kind["Service"]) == {f"{PACKAGE}-{s.name}" for s in routed} | {
        f"{PACKAGE}-caddy"}
    assert set(by_kind["PersistentVolumeClaim"]) == {
        f"{PACKAGE}-{f}-documents" for f in ("local", "data", "archive")} | {
        f"{PACKAGE}-caddy-data"}
    for spec in cfg.services:
        pod = by_kind["Deployment"][f"{PACKAGE}-{spec.name}"]["spec"]["template"]["spec"]
        container = pod["containers"][0]
        assert container["image"] == image_ref(cfg, spec.name)
        mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
        assert set(mounts) == {"/axion/config.yaml", "/axion/data.config", "/axion/local.documents",
                               "/axion/data.documents", "/axion/archive.documents"}
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes[mounts["/axion/data.config"]["name"]]["secret"]["secretName"] == (
            f"{PACKAGE}-keys")
        if spec.port:
            assert container["ports"][0]["containerPort"] == spec.port
            assert container["readinessProbe"]["httpGet"]["path"] == "/health"
            service = by_kind["Service"][f"{PACKAGE}-{spec.name}"]
            assert service["spec"]["ports"][0]["port"] == spec.port
    config_map = by_kind["ConfigMap"][f"{PACKAGE}-config"]["data"]["config.yaml"]
    assert yaml.safe_load(config_map)["package"]["name"] == PACKAGE
    caddy = by_kind["Deployment"][f"{PACKAGE}-caddy"]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in caddy["env"]}
    assert env["UPSTREAM_REPORT"] == f"{PACKAGE}-report:9400"
    assert caddy["image"] == image_ref(cfg, "caddy")
    assert "reverse_proxy {$UPSTREAM_REPORT:report:9400}" in (
        by_kind["ConfigMap"][f"{PACKAGE}-caddy"]["data"]["Caddyfile"])
    all_text = "\n".join(rendered.values())
    assert "PRIVATE KEY" not in all_text and SECRET not in all_text
    assert "kubectl -n axion create secret generic homechoice-keys" in all_text
    deployments = tagged[f"{PACKAGE}/templates/deployments.yaml"]
    assert f"image: {image_ref(cfg, 'report', 'b42')}" in deployments
    assert "name: hc-env" in deployments


def test_pinned_images_are_named_by_digest_in_compose_and_the_chart(cfg):
    helm = importorfail("helm_python", "pip install helm-python-sdk")
    names = [*(s.name for s in cfg.services), "caddy"]
    digests = {name: f"sha256:{i:064x}" for i, name in enumerate(names, 1)}
    options = ScaffoldOptions(digests=tuple(sorted(digests.items())))
    compose = render_scaffold(cfg, "compose", options, environ={})["compose.yaml"]
    images = {n: s["image"] for n, s in yaml.safe_load(compose)["services"].items()}
    assert images == {n: image_ref(cfg, n, digest=d) for n, d in digests.items()}
    assert all(image.endswith(f"@{digests[n]}") for n, image in images.items())
    assert "AXION_IMAGE_TAG" not in compose
    scaffold(cfg, "k3s", options)
    with helm.Chart.load(str(deploy_dir(cfg, "k3s") / "helm" / PACKAGE)) as loaded:
        # a pinned image ignores image.tag; an emptied digest falls back to it
        rendered = loaded.render({"image": {"tag": "b42"}, "services": {"web": {"digest": ""}}},
                                 name=PACKAGE, namespace="axion")
    containers = {obj["metadata"]["name"].removeprefix(f"{PACKAGE}-"):
                  obj["spec"]["template"]["spec"]["containers"][0]["image"]
                  for name, text in rendered.items() if name.endswith(".yaml")
                  for obj in yaml.safe_load_all(text)
                  if isinstance(obj, dict) and obj["kind"] == "Deployment"}
    assert containers == {**images, "web": image_ref(cfg, "web", "b42")}


# ---------------------------------------------------------------- supervisord

needs_supervisor = needs(
    bool(shutil.which("supervisord") and shutil.which("caddy")),
    "needs supervisord and caddy (apt-get install caddy supervisor)")
# the compiled tree the image stage assembles for native runs (build/<pkg>/<platform>/app)
COMPILED_APP = ROOT / "build" / PACKAGE / native_platform().replace("/", "-") / "app"


@needs_app
@needs_supervisor
def test_supervisord_runs_the_example_behind_caddy():
    # a short folder: supervisord's unix socket path must stay under 108 characters
    folder = Path(tempfile.mkdtemp(prefix="axs-"))
    try:
        failed = run_under_supervisord(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    # run from the sources, so only the compiled-modules check may fail
    assert set(failed) <= {"modules are compiled"}, failed


@pytest.fixture
def compiled_app(base_images):
    """The example's compiled app tree, made by the real stages when it is missing."""
    if not (COMPILED_APP / "ServeReport.py").is_file():
        done = subprocess.run([sys.executable, "-m", "doit", "run", f"keys:{PACKAGE}",
                               f"image:{PACKAGE}:context"], cwd=ROOT, capture_output=True,
                              text=True)
        assert done.returncode == 0, done.stdout + done.stderr
    return COMPILED_APP


@needs_app
@needs_supervisor
def test_supervisord_runs_the_compiled_tree(compiled_app):
    folder = Path(tempfile.mkdtemp(prefix="axs-"))
    try:
        shutil.copytree(COMPILED_APP, folder / "compiled")
        failed = run_under_supervisord(folder, compiled=folder / "compiled")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    assert failed == {}, failed


def run_under_supervisord(folder: Path, compiled: Path | None = None) -> dict[str, str]:
    """Scaffold for supervisor on free ports, start, query through Caddy, stop with SIGTERM;
    the report harness's failed checks (name → detail)."""
    app = folder / PACKAGE
    shutil.copytree(APP, app, ignore=shutil.ignore_patterns("__pycache__", "data.config",
                                                            "*.documents"))
    provision_keys(app / "data.config", PACKAGE)
    *service_ports, http_port, https_port = free_ports(len(HTTP_SERVICES) + 2)
    cfg = package(folder / "config", app, ports=dict(zip(HTTP_SERVICES, service_ports,
                                                         strict=True)))
    scaffold(cfg, "supervisor", ScaffoldOptions(http_port=http_port, https_port=https_port,
                                                app_dir=compiled))
    conf = deploy_dir(cfg, "supervisor") / "supervisord.conf"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AXION_", "CADDY_", "UPSTREAM_")) and "proxy" not in k.lower()}
    started = time.monotonic()
    process = subprocess.Popen(["supervisord", "-c", str(conf), "-n"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{http_port}"
        status, body = wait_for(f"{base}/report/status?format=json", 30)
        assert status == 200, (body, logs(conf.parent))
        report = json.loads(body)
        summary = report["tests"]["summary"]
        assert isinstance(summary["pass_rate"], int | float)
        print(f"supervisord: report answered through Caddy after "
              f"{time.monotonic() - started:.1f} s, pass_rate {summary['pass_rate']}")
        assert report["app_root"] == str((compiled or app).resolve())
        status, body = wait_for(f"{base}/health", 10)
        assert status == 200 and json.loads(body)["service"] == "web"
        status, body = wait_for(f"{base}/webhook/health", 10)
        assert status == 200 and json.loads(body)["service"] == "webhook"
        pids = program_pids(conf)
        assert len(pids) == len(cfg.services) + 1, pids
    finally:
        stop_started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
    stopped_in = time.monotonic() - stop_started
    print(f"supervisord: SIGTERM stopped everything in {stopped_in:.1f} s")
    assert code == 0 and stopped_in < 15
    assert [pid for pid in pids if alive(pid)] == []
    return {a["name"]: a["detail"] for a in report["tests"]["assertions"] if not a["pass"]}


def program_pids(conf: Path) -> list[int]:
    """Process ids of every program supervisord runs."""
    done = subprocess.run(["supervisorctl", "-c", str(conf), "pid", "all"],
                          capture_output=True, text=True, timeout=30)
    return [int(line) for line in done.stdout.split() if line.isdigit() and int(line) > 0]


def alive(pid: int) -> bool:
    """Whether a process exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def logs(folder: Path) -> str:
    """The tail of every log of a supervisor deploy folder, for failure messages."""
    return "\n".join(f"== {p.name}\n{p.read_text(errors='replace')[-1500:]}"
                     for p in sorted((folder / "logs").glob("*.log")))


# ---------------------------------------------------------------- doit

DODO = """\
from tasks.config import task_config  # noqa: F401
from tasks.scaffold import task_scaffold  # noqa: F401
from tasks.validate import task_validate  # noqa: F401

DOIT_CONFIG = {"backend": "sqlite3", "dep_file": ".doit.sqlite3", "verbosity": 2}
"""


class DoitRun:
    """Real doit over a dodo that imports the validate, config and scaffold stages."""

    def __init__(self, folder: Path, config_dir: Path):
        self.folder, self.config_dir = folder, config_dir
        (folder / "dodo.py").write_text(DODO)

    def __call__(self, *args: str, **env: str) -> subprocess.CompletedProcess:
        base = {k: v for k, v in os.environ.items() if not k.startswith("AXION_")}
        full = {**base, "AXION_CONFIG_DIR": str(self.config_dir), "PYTHONPATH": str(ROOT),
                **env}
        return subprocess.run([sys.executable, "-m", "doit", *args], cwd=self.folder, env=full,
                              capture_output=True, text=True, timeout=300)


def ran(done: subprocess.CompletedProcess) -> list[str]:
    """Tasks doit executed ('.  name')."""
    return [line[3:].split("  [")[0].strip() for line in done.stdout.splitlines()
            if line.startswith(".  ")]


def skipped(done: subprocess.CompletedProcess) -> list[str]:
    """Tasks doit found up to date ('-- name')."""
    return [line[3:].strip() for line in done.stdout.splitlines() if line.startswith("-- ")]


@pytest.fixture
def doit_run(tmp_path, app) -> tuple[DoitRun, PackageConfig]:
    """A doit runner over a fresh config of the example app."""
    cfg = load_config(write_config(tmp_path / "config", app), environ={})
    return DoitRun(tmp_path, tmp_path / "config"), cfg


def test_doit_scaffold_is_incremental(doit_run):
    run, cfg = doit_run
    task = f"scaffold:{PACKAGE}"
    first = run(task)
    assert first.returncode == 0, first.stdout + first.stderr
    assert task in ran(first) and f"config:{PACKAGE}" in ran(first)
    compose = deploy_dir(cfg, "compose") / "compose.yaml"
    assert compose.is_file() and (deploy_dir(cfg, "compose") / "Caddyfile").is_file()
    second = run(task)
    assert second.returncode == 0 and task in skipped(second), second.stdout
    # an environment override that changes the files re-runs it, once
    moved = run(task, AXION_REGISTRY_URL="registry.example.com")
    assert task in ran(moved), moved.stdout
    assert "registry.example.com/axion/homechoice-report:" in compose.read_text()
    assert task in skipped(run(task, AXION_REGISTRY_URL="registry.example.com"))
    # the substrate comes from the environment too
    k3s = run(task, AXION_DEPLOYMENT_SUBSTRATE="k3s")
    assert task in ran(k3s), k3s.stdout + k3s.stderr
    assert (deploy_dir(cfg, "k3s") / "helm" / PACKAGE / "Chart.yaml").is_file()
    assert task in skipped(run(task, AXION_DEPLOYMENT_SUBSTRATE="k3s"))
    # an edit of the config file re-runs it
    cfg.path.write_text(cfg.path.read_text() + "# edited\n")
    assert task in ran(run(task))


def test_doit_skip_deploy_writes_nothing(doit_run):
    run, cfg = doit_run
    task = f"scaffold:{PACKAGE}"
    done = run(task, "skip_deploy=1", AXION_DEPLOYMENT_SUBSTRATE="supervisor")
    assert done.returncode == 0, done.stdout + done.stderr
    assert task in skipped(done)
    assert not deploy_dir(cfg, "supervisor").exists()


def test_doit_bad_input_fails_and_keeps_the_files(doit_run):
    run, cfg = doit_run
    task = f"scaffold:{PACKAGE}"
    assert run(task).returncode == 0
    before = snapshot(deploy_dir(cfg, "compose"))
    done = run(task, AXION_SERVICES_WEB_PORT="9400")
    assert done.returncode != 0
    assert ("environment variable AXION_SERVICES_WEB_PORT: services.web.port: port 9400 is "
            "already used by service 'report'") in done.stdout + done.stderr
    assert snapshot(deploy_dir(cfg, "compose")) == before
    unknown = run(task, AXION_DEPLOYMENT_SUBSTRATE="swarm")
    assert unknown.returncode != 0
    assert "AXION_DEPLOYMENT_SUBSTRATE: deployment.substrate: unknown substrate 'swarm'" in (
        unknown.stdout + unknown.stderr)


def test_task_dicts(tmp_path, app, monkeypatch):
    from axion_build.config.packages import PACKAGES
    from tasks.scaffold import task_scaffold

    write_config(tmp_path / "config", app, deployment={"substrate": "k3s"})
    monkeypatch.setenv("AXION_CONFIG_DIR", str(tmp_path / "config"))
    PACKAGES.clear()
    try:
        (task,) = list(task_scaffold())
    finally:
        PACKAGES.clear()
    assert task["name"] == PACKAGE and task["task_dep"] == [f"config:{PACKAGE}"]
    assert task["meta"] == {"axion": {"stage": "scaffold", "package": PACKAGE,
                                      "substrate": "k3s"}}
    assert str(ROOT / "caddy" / "Caddyfile.j2") in task["file_dep"]
    assert str(ROOT / "charts" / "helm" / "templates" / "deployments.yaml.j2") in task["file_dep"]
    folder = tmp_path / "config" / "build" / PACKAGE / "deploy" / "k3s"
    assert str(folder / "helm" / PACKAGE / "files" / "config.yaml") in task["targets"]


# ---------------------------------------------------------------- compose up (e2e)

def image_exists(ref: str) -> bool:
    """Whether the local engine holds image `ref`."""
    return subprocess.run(["docker", "image", "inspect", ref], capture_output=True,
                          timeout=60).returncode == 0


def docker(*args: str, timeout: float = 600, **kwargs) -> subprocess.CompletedProcess:
    """Run the docker CLI; fail the test with its output when it fails."""
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout,
                          **kwargs)
    assert done.returncode == 0, f"docker {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done


def caddy_image(cfg: PackageConfig, folder: Path) -> str:
    """The local Caddy image: the image stage's, else built here from the rendered context."""
    local = f"axion-caddy:{cfg.name}"
    if image_exists(local):
        return local
    base = cfg.images.runtime_for(native_platform())
    if not image_exists(base):
        pytest.skip(f"neither {local} nor its base image {base} exists (run the image stage)")
    for name, text in caddy_image_context(cfg).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    docker("build", "-t", local, str(folder))
    return local


@pytest.mark.e2e
@needs(docker_compose_ok(), "no Docker engine with the compose plugin")
def test_compose_up_serves_the_report_through_caddy(tmp_path, app):
    local = {s: f"axion-{PACKAGE}:{s}" for s in HTTP_SERVICES}
    present = [s for s, ref in local.items() if image_exists(ref)]
    if "report" not in present or "web" not in present:
        pytest.skip(f"images {local['report']} and {local['web']} are not built "
                    f"(run doit image:{PACKAGE})")
    cfg = package(tmp_path / "config", app, keep=present)
    tag = f"e2e-{os.getpid()}"
    refs = {s: image_ref(cfg, s, tag) for s in present}
    refs["caddy"] = image_ref(cfg, "caddy", tag)
    sources = {**{s: local[s] for s in present}, "caddy": caddy_image(cfg, tmp_path / "caddy")}
    for service, ref in refs.items():
        docker("tag", sources[service], ref)
    scaffold(cfg, "compose")
    http_port, https_port = free_ports(2)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("AXION_", "CADDY_"))},
           "AXION_IMAGE_TAG": tag, "CADDY_HOST_HTTP_PORT": str(http_port),
           "CADDY_HOST_HTTPS_PORT": str(https_port), "AXION_RUNTIME_LOG_LEVEL": "debug"}
    project = ["compose", "-p", f"axion-e2e-{os.getpid()}", "-f", "compose.yaml"]
    folder = deploy_dir(cfg, "compose")
    try:
        started = time.monotonic()
        docker(*project, "up", "-d", "--wait", *present, "caddy", cwd=folder, env=env,
               timeout=300)
        status, body = wait_for(f"http://127.0.0.1:{http_port}/report/status?format=json", 60)
        assert status == 200, body
        report = json.loads(body)
        print(f"compose: report answered through Caddy after {time.monotonic() - started:.1f} s,"
              f" pass_rate {report['tests']['summary']['pass_rate']}")
        failed = [a for a in report["tests"]["assertions"] if not a["pass"]]
        assert failed == [], failed
        status, body = wait_for(f"http://127.0.0.1:{http_port}/health", 30)
        assert status == 200 and json.loads(body)["service"] == "web"
    finally:
        subprocess.run(["docker", *project, "down", "-v", "--timeout", "10"], cwd=folder,
                       env=env, capture_output=True, timeout=300)
        for ref in refs.values():
            subprocess.run(["docker", "rmi", ref], capture_output=True, timeout=60)
