"""Image stage: real images from the example app, run and inspected on a real engine."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from axion_build.build.images import build_args, image_inputs_hash
from axion_build.config.load import load_config
from workspace import ROOT, make_workspace, provision, ran_tasks

pytestmark = pytest.mark.e2e

MANIFEST = {
    "files": {"Dockerfile": "d0", "app/factory.core/ObjConfig.so": "a1",
              "serve/ServeReport.py": "r1", "serve/ServeWebsite.py": "w1"},
    "sections": {"common": "c1", "runtime": "x1", "report": "s1", "web": "s2"},
}


def hashes(manifest: dict) -> dict[str, str]:
    return {t: image_inputs_hash(manifest, t, s, ["base"], {"A": "1"})
            for t, s in (("runtime", ""), ("report", "ServeReport.py"),
                         ("web", "ServeWebsite.py"))}


def changed(manifest: dict, path: str, value: str) -> dict:
    copy = json.loads(json.dumps(manifest))
    copy["files"][path] = value
    return copy


def test_inputs_hash_follows_exactly_what_an_image_is_made_of():
    before = hashes(MANIFEST)
    script = hashes(changed(MANIFEST, "serve/ServeReport.py", "r2"))
    assert script["report"] != before["report"] and script["runtime"] != before["runtime"]
    assert script["web"] == before["web"]
    module = hashes(changed(MANIFEST, "app/factory.core/ObjConfig.so", "a2"))
    assert all(module[t] != before[t] for t in before)
    # the Dockerfile as a whole is not an input: its sections are
    assert hashes(changed(MANIFEST, "Dockerfile", "d1")) == before


def test_build_args_never_carry_secrets(tmp_path):
    ws = make_workspace(tmp_path, "homechoice", app_source=ROOT / "examples" / "homechoice",
                        config_source=ROOT / "config" / "homechoice.yaml")
    cfg = load_config(ws.config_file, {"AXION_DATABASE_PASSWORD": "s3cret-value-123",
                                       "AXION_SMTP_PASSWORD": "mail-secret-456",
                                       "AXION_SMTP_STARTTLS": "true"})
    for target in ("runtime", "report", "ai"):
        values = " ".join(build_args(cfg, target, "linux/amd64").values())
        assert "s3cret-value-123" not in values and "mail-secret-456" not in values
    assert build_args(cfg, "ai", "linux/amd64")["AXION_AI_ENABLED"] == "1"
    assert build_args(cfg, "report", "linux/amd64")["AXION_AI_ENABLED"] == "0"


# --- real images ------------------------------------------------------------------------

SECRET = "db-password-never-in-images"


@pytest.fixture(scope="module")
def built(tmp_path_factory, base_images):
    """The example's images, built once from a copy of the example app."""
    ws = make_workspace(tmp_path_factory.mktemp("images"), "homechoice",
                        app_source=ROOT / "examples" / "homechoice",
                        config_source=ROOT / "config" / "homechoice.yaml")
    provision(ws)
    ws.doit("config:homechoice", "image:homechoice", check=True,
            AXION_DATABASE_PASSWORD=SECRET)
    return ws


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check)


def get(url: str, attempts: int = 50) -> bytes:
    for _ in range(attempts):
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                return answer.read()
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} never answered")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def runtime_mounts(ws, home: Path) -> list[str]:
    for folder in ("local.documents", "data.documents", "archive.documents"):
        (home / folder).mkdir(parents=True, exist_ok=True)
    mounts = ["-v", f"{ws.build}/runtime/config.yaml:/axion/config.yaml:ro",
              "-v", f"{ws.app}/data.config:/axion/data.config:ro"]
    for folder in ("local.documents", "data.documents", "archive.documents"):
        mounts += ["-v", f"{home / folder}:/axion/{folder}"]
    return mounts


def test_report_image_passes_every_self_test_with_runtime_mounts(built, tmp_path):
    port = free_port()
    name = f"axion-test-report-{port}"
    docker("run", "-d", "--init", "--name", name, "-p", f"127.0.0.1:{port}:9400",
           *runtime_mounts(built, tmp_path), "-e", "AXION_DATABASE_HOST=db.example.com",
           "axion-homechoice:report")
    try:
        status = json.loads(get(f"http://127.0.0.1:{port}/report/status?format=json"))
    finally:
        docker("rm", "-f", name)
    failed = [a for a in status["tests"]["assertions"] if not a["pass"]]
    assert failed == [] and status["tests"]["summary"]["pass_rate"] == 100
    names = {a["name"]: a["detail"] for a in status["tests"]["assertions"]}
    assert "native extensions" in names["modules are compiled"]
    assert "db.example.com" in names["env overrides applied"]


def test_runtime_image_dispatches_by_axion_service(built, tmp_path):
    port = free_port()
    name = f"axion-test-web-{port}"
    docker("run", "-d", "--init", "--name", name, "-p", f"127.0.0.1:{port}:9000",
           *runtime_mounts(built, tmp_path), "-e", "AXION_SERVICE=web",
           "axion-homechoice:latest")
    try:
        page = get(f"http://127.0.0.1:{port}/").decode()
    finally:
        docker("rm", "-f", name)
    assert "<html" in page.lower()
    missing = docker("run", "--rm", "axion-homechoice:latest", check=False)
    assert missing.returncode == 64 and "AXION_SERVICE is not set" in missing.stderr
    assert "report, webhook, web" in missing.stderr
    unknown = docker("run", "--rm", "-e", "AXION_SERVICE=nope", "axion-homechoice:latest",
                     check=False)
    assert unknown.returncode == 64 and "unknown AXION_SERVICE 'nope'" in unknown.stderr


def test_images_hold_compiled_modules_and_nothing_runtime_only(built):
    listing = docker("run", "--rm", "--entrypoint", "sh", "axion-homechoice:latest", "-c",
                     "find /axion -type f | sort").stdout.split()
    python = [p for p in listing if p.endswith(".py")]
    assert python and all(Path(p).name.startswith("Serve") for p in python), python
    assert "/axion/factory.core/ObjConfig.so" in listing
    assert not any(p.startswith("/axion/data.config/") for p in listing)
    assert "/axion/config.yaml" not in listing
    assert not any(".documents/" in p for p in listing)
    thin = docker("run", "--rm", "--entrypoint", "sh", "axion-homechoice:report", "-c",
                  "ls /axion/Serve*.py").stdout.split()
    assert thin == ["/axion/ServeReport.py"]


def test_no_secret_in_history_env_or_labels(built):
    for tag in ("axion-homechoice:latest", "axion-homechoice:report", "axion-homechoice:ai"):
        history = docker("history", "--no-trunc", tag).stdout
        inspect = docker("image", "inspect", tag).stdout
        assert SECRET not in history and SECRET not in inspect
        assert "PRIVATE KEY" not in history


def test_rebuilds_only_what_changed(built):
    again = built.doit("image:homechoice", check=True)
    assert [t for t in ran_tasks(again.stdout) if t.startswith("image:")] == []
    script = built.app / "ServeWebsite.py"
    script.write_text(script.read_text() + "\n# edited\n")
    edited = built.doit("image:homechoice", check=True)
    images = sorted(t for t in ran_tasks(edited.stdout) if t.startswith("image:"))
    assert images == ["image:homechoice:context", "image:homechoice:runtime",
                      "image:homechoice:web"]


def test_secret_guard_catches_a_key_copied_into_an_image(built, tmp_path):
    from axion_build.build.guard import guard_image

    context = tmp_path / "ctx"
    context.mkdir()
    key = built.app / "data.config" / "homechoice_private.pem"
    (context / "leaked.pem").write_bytes(key.read_bytes())
    (context / "Dockerfile").write_text(
        "FROM axion-homechoice:latest\nCOPY leaked.pem /opt/leaked.pem\n"
        f"ENV AXION_DATABASE_PASSWORD={SECRET}\n")
    tag = "axion-test-guard:leak"
    docker("build", "-q", "-t", tag, str(context))
    try:
        findings = guard_image(tag, (SECRET,), tmp_path / "clean.json")
    finally:
        docker("rmi", "-f", tag)
    places = {f.place: f.what for f in findings}
    assert any("/opt/leaked.pem" in place for place in places), places
    assert places.get("env") == "a configured secret value"
    clean = guard_image("axion-homechoice:report", (SECRET,), tmp_path / "clean.json")
    assert clean == []


EXAMPLE_CALLS = (
    "import json, textkit, scoring, portmap\n"
    "print(json.dumps([\n"
    "  textkit.slugify('Home Choice: Report!'), textkit.word_count('a b  c'),\n"
    "  textkit.truncate('abcdefghij', 6), textkit.wrap('one two three four', 7),\n"
    "  textkit.checksum('axion'), sorted(textkit.trigrams('banana')),\n"
    "  textkit.detect_intent('hello there'), textkit.reply_for('help me'),\n"
    "  scoring.pass_rate(7, 9), scoring.grade(85), scoring.mean([1, 2, 4]),\n"
    "  scoring.percentile([5, 1, 9, 3], 0.5), scoring.weighted_score([1, 2], [3, 1]),\n"
    "  scoring.histogram([1, 2, 2, 9], 3, 0, 10),\n"
    "  round(scoring.cosine({'a': 1, 'b': 2}, {'a': 2, 'b': 1}), 9),\n"
    "  portmap.port_from_args(['--port', '9400'], 1), portmap.duplicates([1, 2, 2, 3, 3]),\n"
    "  portmap.health_paths('/report'), portmap.upstream_name('web'),\n"
    "  [m.__file__.rsplit('.', 1)[-1] for m in (textkit, scoring, portmap)]]))\n"
)


def test_every_module_imports_in_the_image_interpreter_and_behaves_like_source(built):
    modules = sorted(p.stem for p in (built.build / "linux-amd64" / "compiled").rglob("*.so"))
    code = ("import importlib, os, sys\n"
            "for d, _, _ in os.walk('/axion'):\n"
            "    if '/factory.' in d + '/': sys.path.insert(0, d)\n"
            f"for name in {modules!r}:\n"
            "    m = importlib.import_module(name)\n"
            "    assert m.__file__.endswith('.so'), m.__file__\n"
            "print(len(sys.modules))\n")
    docker("run", "--rm", "axion-homechoice:latest", "python", "-c", code)
    prelude = ("import os, sys\nfor d, _, _ in os.walk('/axion'):\n"
               "    if '/factory.' in d + '/': sys.path.insert(0, d)\n")
    native = json.loads(docker("run", "--rm", "axion-homechoice:latest", "python", "-c",
                               prelude + EXAMPLE_CALLS).stdout)
    folders = [str(p) for p in built.app.rglob("*") if p.is_dir() and "/factory." in
               f"/{p.relative_to(built.app)}/"]
    source = json.loads(subprocess.run(
        [sys.executable, "-c", "import sys; sys.path[:0] = " + repr(folders) + "\n"
         + EXAMPLE_CALLS], capture_output=True, text=True, check=True).stdout)
    assert native.pop() == ["so", "so", "so"] and source.pop() == ["py", "py", "py"]
    assert native == source


def test_skip_compile_reuses_the_last_complete_tree(built):
    module = built.app / "factory.core" / "textkit.py"
    module.write_text(module.read_text() + "\n\ndef added():\n    return 1\n")
    done = built.doit("image:homechoice", "skip_compile=1", check=True)
    assert not any(t.startswith("compile:") for t in ran_tasks(done.stdout))
    assert not [t for t in ran_tasks(done.stdout) if t.startswith("image:homechoice:")]


@pytest.mark.parametrize("cache", [True, False])
def test_no_build_cache_reaches_every_image_build(tmp_path, cache):
    """`no_build_cache=1` makes every image task of the platform build with `--no-cache`."""
    from tasks.image import platform_tasks

    ws = make_workspace(tmp_path / "ws")
    cfg = load_config(ws.config_file, environ={})
    builds = [t["actions"][0] for t in platform_tasks(cfg, "linux/amd64", "", cache)
              if t["actions"][0][0].__name__ == "build_target"]
    assert builds and all(args[-1] is cache for _, args in builds)
