"""A throwaway checkout for running the real pipeline: config, app tree, build folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"


def run_env(config_dir: Path, tool: Path = ROOT, **extra: str) -> dict[str, str]:
    """Environment of a doit run in a test folder: none of this shell's `AXION_*`, the
    folder's package configs, the tool's checkout importable, output unbuffered."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AXION_")}
    env.update(AXION_CONFIG_DIR=str(config_dir), PYTHONPATH=str(tool), PYTHONUNBUFFERED="1",
               **extra)
    return env


@dataclass
class Workspace:
    """config/, the app tree and build/ under one root, as a user's checkout."""

    root: Path
    package: str
    tool: Path = ROOT  # the checkout of Axion Build whose dodo.py runs

    @property
    def config_dir(self) -> Path:
        return self.root / "config"

    @property
    def config_file(self) -> Path:
        return self.config_dir / f"{self.package}.yaml"

    @property
    def app(self) -> Path:
        return self.root / self.package

    @property
    def build(self) -> Path:
        return self.root / "build" / self.package

    def env(self, **extra: str) -> dict[str, str]:
        """Environment for a pipeline run in this workspace."""
        return run_env(self.config_dir, self.tool, **extra)

    def doit(self, *args: str, check: bool = False, **extra_env: str):
        """Run the real doit on the project's dodo.py in this workspace."""
        command, rest = ("run", args)
        if args and args[0] in DOIT_COMMANDS:
            command, rest = args[0], args[1:]
        line = [sys.executable, "-m", "doit", command, "-f", str(self.tool / "dodo.py"),
                "-d", str(self.root), *db_options(self.root, command), *rest]
        done = subprocess.run(line, capture_output=True, text=True, env=self.env(**extra_env),
                              timeout=1800)
        if check and done.returncode != 0:
            raise AssertionError(f"doit {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done


DOIT_COMMANDS = ("list", "info", "forget", "run", "clean", "dumpdb", "ignore")


def db_options(root: Path, command: str) -> list[str]:
    """doit's dependency database in the workspace's build folder."""
    if command == "list":
        return []
    return ["--backend", "sqlite3", "--db-file", str(root / "build" / ".doit.sqlite3")]


def make_workspace(tmp: Path, package: str = "shop", app_source: Path | None = None,
                   config_source: Path | None = None) -> Workspace:
    """Copy a fixture app and its config into `tmp` (files get fresh mtimes)."""
    ws = Workspace(root=tmp, package=package)
    app_source = app_source or FIXTURES / package
    config_source = config_source or FIXTURES / f"{package}-config" / f"{package}.yaml"
    shutil.copytree(app_source, ws.app, copy_function=shutil.copy,
                    ignore=shutil.ignore_patterns("__pycache__", "data.config", "*.documents"))
    ws.config_dir.mkdir(parents=True)
    text = config_source.read_text()
    text = text.replace("app_root: ../examples/homechoice", f"app_root: ../{package}")
    ws.config_file.write_text(text)
    (ws.root / "build").mkdir(exist_ok=True)
    return ws


def copy_checkout(dest: Path, source: Path = ROOT) -> Path:
    """A second checkout of this tool: its tracked and new files, as a clone has them."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], cwd=source, capture_output=True,
                            check=True).stdout.decode().split("\0")
    for relative in filter(None, listed):
        path = source / relative
        if path.is_file():
            (dest / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, dest / relative)
    return dest


def provision(ws: Workspace) -> None:
    """Give the workspace's package its key pair."""
    from axion_build.build.keys import provision_keys

    provision_keys(ws.app / "data.config", ws.package)


def ran_tasks(output: str) -> list[str]:
    """Tasks doit executed ('.  name' lines)."""
    return [line[3:].split("  [")[0].strip() for line in output.splitlines()
            if line.startswith(".  ")]


def uptodate_tasks(output: str) -> list[str]:
    """Tasks doit skipped as up to date ('-- name' lines)."""
    return [line[3:].strip() for line in output.splitlines() if line.startswith("-- ")]


def registry_workspace(root: Path, registry_host: str, namespace: str = "team") -> Workspace:
    """The shop app with its key pair, pushing to (and caching in) `registry_host`."""
    ws = make_workspace(root)
    provision(ws)
    with ws.config_file.open("a") as config:
        config.write(f"\nregistry:\n  url: {registry_host}\n  namespace: {namespace}\n"
                     "  insecure: true\n")
    return ws


def give_team_keys(ws: Workspace, team: Path) -> None:
    """The team's cosign key pair (made once, in `team`, without a password) in the
    workspace's data.config/: what one machine of the team signs, the others trust."""
    from axion_build.build.signkeys import cosign_key_paths, provision_cosign_keys

    provision_cosign_keys(team, ws.package, "")
    for path in cosign_key_paths(team, ws.package):
        shutil.copy2(path, ws.app / "data.config" / path.name)
