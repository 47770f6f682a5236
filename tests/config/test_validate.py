"""Validation, environment overrides, trim and keys, on real files and real doit runs."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from axion_build.build.keys import key_pair_problem, key_paths, provision_keys
from axion_build.config.load import load_config
from axion_build.config.problems import ConfigError
from axion_build.config.runtime import trim_text
from axion_build.config.validate import validate_file
from workspace import ROOT, make_workspace, provision, ran_tasks, uptodate_tasks


@pytest.fixture
def ws(tmp_path):
    """The shop fixture with its keys: a valid package to break one line at a time."""
    workspace = make_workspace(tmp_path)
    provision(workspace)
    return workspace


def edit(ws, old: str, new: str) -> None:
    text = ws.config_file.read_text()
    assert old in text, old
    ws.config_file.write_text(text.replace(old, new, 1))


# (edit to make, exact problem line without the file name prefix)
BAD_CONFIGS = [
    (("  name: shop\n", "  name: shop\n  colour: blue\n"),
     ":4: package.colour: unknown option (fix: remove it or use one of: name, app_root)"),
    (("build:\n", "bulid:\n"),
     ":6: bulid: unknown option (fix: remove it or use one of: package, build, compile, images, "
     "services, registry, cache, signing, deployment, database, smtp, runtime)"),
    (("  app_root: ../shop\n", ""),
     ":2: package.app_root: missing required option (fix: add 'app_root:' under 'package:')"),
    (("  factory_sets: [factory.util, factory.shop]\n", "  factory_sets: factory.util\n"),
     ":10: compile.factory_sets: expected a list, got 'factory.util' "
     "(fix: set compile.factory_sets to a list)"),
    (('    args: [--port, "9800"]\n    port: 9800\n',
      '    args: [--port, "9800"]\n    port: high\n'),
     ":17: services.shop.port: expected a port number (1-65535) or null, got 'high' "
     "(fix: set services.shop.port to a port number (1-65535) or null)"),
    (("    port: 9800\n", "    port: 70000\n"),
     ":17: services.shop.port: expected a port number (1-65535) or null, got 70000 "
     "(fix: set services.shop.port to a port number (1-65535) or null)"),
    (("  stock:\n    script: ServeStock.py\n",
      "  stock:\n    script: ServeStock.py\n    port: 9800\n"),
     ":21: services.stock.port: port 9800 is already used by service 'shop' "
     "(fix: give each service its own port)"),
    (("    script: ServeStock.py\n", "    script: ServeStocks.py\n"),
     ":20: services.stock.script: ServeStocks.py not found in shop "
     "(fix: create ServeStocks.py or fix the script name)"),
    (("  stock:\n    script: ServeStock.py\n", "  stock:\n    args: [x]\n"),
     ":19: services.stock.script: missing entry script (fix: add 'script: Serve<Name>.py')"),
    (("    route: /shop\n", "    route: shop\n"),
     ":18: services.shop.route: route 'shop' must start with '/' (fix: write '/shop')"),
    (("  stock:\n    script: ServeStock.py\n",
      "  stock:\n    script: ServeStock.py\n    route: /stock\n"),
     ":21: services.stock.route: a routed service needs a port (fix: add 'port: <number>')"),
    (("  name: shop\n", "  name: shops\n"),
     ":3: package.name: 'shops' does not match the file name shop.yaml "
     "(fix: rename the file to shops.yaml or set name: shop)"),
    (("  name: shop\n", "  name: sh op\n"),
     ":3: package.name: 'sh op' is not a valid package name "
     "(fix: use lower-case letters, digits, '-' and '_', starting and ending with a letter or "
     "digit (at most 63))"),
    (("  app_root: ../shop\n", "  app_root: ../nowhere\n"),
     ":4: package.app_root: app tree nowhere does not exist "
     "(fix: point app_root at the app tree, relative to this file)"),
    (("  factory_sets: [factory.util, factory.shop]\n",
      "  factory_sets: [factory.util, factory.gone]\n"),
     ":10: compile.factory_sets: folder factory.gone not found in shop "
     "(fix: remove it or create the folder)"),
    (("  exclude: []\n", "  exclude: [factory.util/ObjNope.py]\n"),
     ":11: compile.exclude: excluded module factory.util/ObjNope.py not found "
     "(fix: use a path relative to the app tree)"),
    (("services:\n", "deployment:\n  substrate: swarm\nservices:\n"),
     ":14: deployment.substrate: unknown substrate 'swarm' "
     "(fix: use one of: compose, k3s, supervisor)"),
    (("services:\n", "deployment:\n  platform: linux/s390x\nservices:\n"),
     ":14: deployment.platform: unknown platform 'linux/s390x' "
     "(fix: use linux/amd64 or linux/arm64, comma-separated)"),
    (("services:\n", "registry:\n  insecure: maybe\nservices:\n"),
     ":14: registry.insecure: expected true or false, got 'maybe' "
     "(fix: set registry.insecure to true or false)"),
    (("services:\n", "database:\n  port: '3306'\nservices:\n"),
     ":14: database.port: expected an integer, got '3306' "
     "(fix: set database.port to an integer)"),
    (("services:\n", "deployment:\n  buildx: ssh://x\nservices:\n"),
     ":14: deployment.buildx: expected a mapping "
     "(fix: write 'buildx:' followed by indented options)"),
    (("services:\n", "smtp:\n  starttls: true\n  sender: [a]\nservices:\n"),
     ":15: smtp.sender: expected a string, got ['a'] (fix: set smtp.sender to a string)"),
    (("  stock:\n    script: ServeStock.py\n", "  stock: ServeStock.py\n"),
     ":19: services.stock: expected a mapping with script, args, port, route "
     "(fix: write 'stock:' then 'script: Serve<Name>.py')"),
    (("services:\n", "images:\n  requirements_file: resource.config/missing.txt\nservices:\n"),
     ":14: images.requirements_file: resource.config/missing.txt not found in shop "
     "(fix: create resource.config/missing.txt or fix the path)"),
]


@pytest.mark.parametrize(("change", "expected"), BAD_CONFIGS)
def test_each_bad_config_gives_its_exact_error(ws, change, expected, monkeypatch):
    monkeypatch.chdir(ws.root)
    edit(ws, *change)
    problems = [str(p) for p in validate_file(Path("config/shop.yaml"), environ={})]
    assert problems == [f"config/shop.yaml{expected}"]


def test_unreadable_yaml_and_missing_file(ws, monkeypatch):
    monkeypatch.chdir(ws.root)
    edit(ws, "  name: shop\n", "  name: [shop\n")
    [problem] = validate_file(Path("config/shop.yaml"), environ={})
    assert str(problem).startswith("config/shop.yaml:4: unreadable YAML")
    [missing] = validate_file(Path("config/none.yaml"), environ={})
    assert "cannot read file" in str(missing)


def apply_fix(ws, problem) -> None:
    """Run a problem's fix as a user would: its shell commands, then its doit command."""
    commands = problem.fix.split(", then run ")[0].split(", or ")[-1].split(" and run ")[0]
    if not commands.startswith("run "):
        subprocess.run(commands, shell=True, check=True, cwd=ws.root)
    if "doit keys:shop" in problem.fix:
        ws.doit("keys:shop", check=True)


def test_missing_keys_point_at_the_key_command(ws, monkeypatch):
    monkeypatch.chdir(ws.root)
    for key in key_paths(ws.app / "data.config", "shop"):
        key.unlink()
    [problem] = validate_file(Path("config/shop.yaml"), environ={})
    assert "missing key file(s) shop_private.pem, shop_public.pem" in str(problem)
    assert "fix: run 'axion keys shop' (or 'doit keys:shop')" in str(problem)
    ws.doit("keys:shop", check=True)
    assert validate_file(Path("config/shop.yaml"), environ={}) == []


def break_half(ws):
    key_paths(ws.app / "data.config", "shop")[1].unlink()


def break_mismatch(ws):
    other = ws.root / "other"
    provision_keys(other, "shop")
    key_paths(ws.app / "data.config", "shop")[1].write_bytes(
        key_paths(other, "shop")[1].read_bytes())


def break_mode(ws):
    key_paths(ws.app / "data.config", "shop")[0].chmod(0o644)


def break_directory(ws):
    public = key_paths(ws.app / "data.config", "shop")[1]
    public.unlink()
    public.mkdir()


# (how the pair is broken, the message, the fix) — each fix is then run and must work
BROKEN_KEYS = [
    (break_half, "package.name: missing key file(s) shop_public.pem in shop/data.config",
     "(fix: restore shop_public.pem, or mv shop/data.config/shop_private.pem "
     "shop/data.config/shop_private.pem.old and run 'doit keys:shop' for a new pair)"),
    (break_mismatch, "package.name: shop_private.pem and shop_public.pem are not a matching pair",
     "(fix: mv shop/data.config/shop_private.pem shop/data.config/shop_private.pem.old && "
     "mv shop/data.config/shop_public.pem shop/data.config/shop_public.pem.old, then run "
     "'doit keys:shop' for a new pair (keys are never overwritten))"),
    (break_mode, "package.name: shop/data.config/shop_private.pem is readable by others "
     "(mode 0o644)", "(fix: chmod 600 shop/data.config/shop_private.pem)"),
    (break_directory, "package.name: shop_public.pem in shop/data.config is not a file",
     "(fix: mv shop/data.config/shop_private.pem shop/data.config/shop_private.pem.old && "
     "mv shop/data.config/shop_public.pem shop/data.config/shop_public.pem.old, then run "
     "'doit keys:shop' for a new pair)"),
]


@pytest.mark.parametrize(("breaks", "message", "fix"), BROKEN_KEYS)
def test_broken_keys_give_a_fix_that_works(ws, monkeypatch, breaks, message, fix):
    monkeypatch.chdir(ws.root)
    breaks(ws)
    [problem] = validate_file(Path("config/shop.yaml"), environ={})
    assert str(problem) == f"config/shop.yaml:3: {message} {fix}"
    apply_fix(ws, problem)
    assert validate_file(Path("config/shop.yaml"), environ={}) == []


def test_three_mistakes_are_reported_together_by_doit(ws):
    edit(ws, "  name: shop\n", "  name: shop\n  colour: blue\n")
    edit(ws, "    port: 9800\n", "    port: high\n")
    edit(ws, "build:\n", "bulid:\n")
    done = ws.doit("validate:shop")
    assert done.returncode != 0
    out = done.stdout + done.stderr
    assert "3 problem(s):" in out
    for line in (":4: package.colour: unknown option", ":7: bulid: unknown option",
                 ":18: services.shop.port: expected a port number"):
        assert line in out, out


def test_validate_and_config_are_incremental(ws):
    first = ws.doit("validate:shop", "config:shop", check=True)
    assert ran_tasks(first.stdout) == ["validate:shop", "config:shop"]
    second = ws.doit("validate:shop", "config:shop", check=True)
    assert ran_tasks(second.stdout) == []
    assert uptodate_tasks(second.stdout) == ["keys:shop", "validate:shop", "config:shop"]
    third = ws.doit("validate:shop", check=True, AXION_SERVICES_SHOP_PORT="9801")
    assert ran_tasks(third.stdout) == ["validate:shop"]


def test_environment_overrides_any_option(ws):
    cfg = load_config(ws.config_file, {"AXION_DATABASE_PASSWORD": "pw",
                                       "AXION_DEPLOYMENT_SUBSTRATE": "k3s",
                                       "AXION_SERVICES_SHOP_PORT": "9900",
                                       "AXION_REGISTRY_INSECURE": "false",
                                       "AXION_DEPLOYMENT_BUILDX_BUILDER": "remote"})
    assert cfg.database.password == "pw"
    assert cfg.deployment.substrate == "k3s" and cfg.deployment.builder == "remote"
    assert cfg.service("shop").port == 9900 and cfg.registry.insecure is False
    with pytest.raises(ConfigError) as error:
        load_config(ws.config_file, {"AXION_SERVICES_SHOP_PORT": "lots"})
    assert "environment variable AXION_SERVICES_SHOP_PORT: services.shop.port" in str(error.value)


def test_trim_keeps_comments_and_only_runtime_sections():
    text = trim_text(ROOT / "config" / "homechoice.yaml")
    assert "# set AXION_DATABASE_PASSWORD instead" in text
    assert "# empty = SQLite in the build folder" in text
    for gone in ("compile:", "images:", "registry:", "deployment:", "build:", "app_root"):
        assert gone not in text
    for kept in ("package:", "services:", "database:", "smtp:", "runtime:"):
        assert kept in text


def test_keys_are_a_pair_private_0600_and_never_overwritten(tmp_path):
    folder = tmp_path / "data.config"
    created = provision_keys(folder, "pkg")
    private, public = key_paths(folder, "pkg")
    assert created == [private, public]
    assert stat.S_IMODE(os.stat(private).st_mode) == 0o600
    assert key_pair_problem(folder, "pkg") == ("", "")
    before = private.read_bytes()
    assert provision_keys(folder, "pkg") == []
    assert private.read_bytes() == before
    public.unlink()
    with pytest.raises(FileExistsError, match="refusing to overwrite"):
        provision_keys(folder, "pkg")
    assert private.read_bytes() == before and not public.exists()


def test_keys_task_is_idempotent(ws):
    key = ws.app / "data.config" / "shop_private.pem"
    before = key.read_bytes()
    done = ws.doit("keys:shop", check=True)
    assert uptodate_tasks(done.stdout) == ["keys:shop"]
    assert key.read_bytes() == before


def test_six_mistakes_of_every_kind_are_reported_in_one_pass(ws, monkeypatch):
    monkeypatch.chdir(ws.root)
    edit(ws, "  name: shop\n", "  name: shop\n  colour: blue\n")           # schema
    edit(ws, "    script: ServeStock.py\n", "    script: ServeStocks.py\n")  # missing file
    edit(ws, "  exclude: []\n", "  exclude: [../x.py]\n")                    # leaves the tree
    key_paths(ws.app / "data.config", "shop")[0].chmod(0o644)              # key
    environ = {"AXION_SERVICES_SHOP_PORT": "lots",                         # env type
               "AXION_DEPLOYMENT_SUBSTRATE": "swarm"}                      # env value
    problems = validate_file(Path("config/shop.yaml"), environ=environ)
    assert [p.field for p in problems] == [
        "package.colour", "services.shop.port", "deployment.substrate", "compile.exclude",
        "services.stock.script", "package.name"]


@pytest.mark.parametrize(("content", "expected"), [
    (b"", "config/shop.yaml: the file is empty (no settings) (fix: write the package:, "
          "compile: and services: sections (config/homechoice.yaml is an example))"),
    (b"# only a comment\n", "config/shop.yaml: the file is empty (no settings) (fix: write "
     "the package:, compile: and services: sections (config/homechoice.yaml is an example))"),
    (b"package:\n  name: sh\xe9p\n", "config/shop.yaml:2: not UTF-8 text (byte 0xe9) "
     "(fix: save the file as UTF-8)"),
])
def test_unreadable_config_is_a_problem_not_a_traceback(ws, content, expected):
    ws.config_file.write_bytes(content)
    done = ws.doit("pipeline:shop", "skip_push=1")
    out = done.stdout + done.stderr
    assert done.returncode != 0
    assert expected in out, out
    assert "Traceback" not in out
    assert ran_tasks(done.stdout) == ["validate:shop"]


def test_skip_compile_with_nothing_compiled_is_a_problem(ws):
    done = ws.doit("validate:shop", "skip_compile=1")
    out = done.stdout + done.stderr
    assert done.returncode != 0
    assert ("doit variable skip_compile: skip_compile: nothing compiled yet for linux/amd64 "
            "(build/shop/linux-amd64/compiled.json is missing) (fix: run once without "
            "skip_compile (doit compile:shop))") in out, out
    assert "Traceback" not in out
    # up to date without the flag, it still runs (and fails) when the flag is given
    ws.doit("validate:shop", check=True)
    assert ws.doit("validate:shop", "skip_compile=1").returncode != 0


def test_a_platform_this_machine_cannot_emulate_names_what_to_install(ws, monkeypatch):
    """Without QEMU, arm64 is a problem at the config line that asks for it, naming the
    packages and the commands that install them (the check of the machine is replaced
    here: its dispatch is what is under test)."""
    import axion_build.build.bootstrap as bootstrap

    monkeypatch.chdir(ws.root)
    monkeypatch.setattr(bootstrap, "emulation_available", lambda arch: False)
    with ws.config_file.open("a") as config:
        config.write("\ndeployment:\n  platform: linux/amd64,linux/arm64\n")
    line = len(ws.config_file.read_text().splitlines())
    problems = [str(p) for p in validate_file(Path("config/shop.yaml"), environ={})]
    assert problems == [
        f"config/shop.yaml:{line}: deployment.platform: linux/arm64 needs QEMU emulation, "
        "which this machine lacks (fix: install QEMU's user emulation: 'sudo apt-get install "
        "-y qemu-user-static binfmt-support', then 'sudo update-binfmts --enable "
        "qemu-aarch64' ('sudo ./run provision tests' does both); or build only linux/amd64)"]
    monkeypatch.setattr(bootstrap, "emulation_available", lambda arch: True)
    assert validate_file(Path("config/shop.yaml"), environ={}) == []


@pytest.mark.skipif(shutil.which("cosign") is None, reason="no cosign CLI")
def test_a_key_others_can_read_fails_validate_even_after_a_pass(ws):
    from axion_build.build.signkeys import cosign_key_paths, provision_cosign_keys

    folder = ws.app / "data.config"
    provision_cosign_keys(folder, "shop", "pw-for-the-test")
    assert ran_tasks(ws.doit("validate:shop", check=True).stdout) == ["validate:shop"]
    for key in (key_paths(folder, "shop")[0], cosign_key_paths(folder, "shop")[0]):
        key.chmod(0o644)  # content unchanged: only the mode says validate must run again
        done = ws.doit("validate:shop")
        out = done.stdout + done.stderr
        assert done.returncode != 0 and "validate:shop" in ran_tasks(done.stdout), out
        assert f"{key.relative_to(ws.root)} is readable by others (mode 0o644)" in out
        assert f"fix: chmod 600 {key.relative_to(ws.root)}" in out
        key.chmod(0o600)
        assert ran_tasks(ws.doit("validate:shop", check=True).stdout) == ["validate:shop"]
    assert ran_tasks(ws.doit("validate:shop", check=True).stdout) == []


def test_the_push_never_signs_with_a_cosign_key_others_can_read(ws):
    from axion_build.adapters.cosign import CosignError
    from axion_build.build.signkeys import cosign_key_paths
    from axion_build.build.signkeys import usable_signing_key as signing_key

    private, public = cosign_key_paths(ws.app / "data.config", "shop")
    private.write_text("not read: the mode is checked first\n")
    public.write_text("pub\n")
    cfg = load_config(ws.config_file, environ={})
    private.chmod(0o600)
    assert signing_key(cfg) == private
    private.chmod(0o640)
    with pytest.raises(CosignError, match=r"readable by others .*chmod 600 .*shop_cosign\.key"):
        signing_key(cfg)
