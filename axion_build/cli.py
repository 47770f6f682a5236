"""The `axion` console script: the seed's verbs and flags on top of doit."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from axion_build import paths

VERBS = ("pipeline", "scaffold", "deploy", "validate", "keys", "config", "compile", "image",
         "push", "verify", "report", "explain", "summary", "registry", "start", "stop",
         "restart", "status")
# verbs on the deployed stack, not doit tasks (one service, or all)
STACK_VERBS = ("start", "stop", "restart", "status")
BROKEN_PIPE_EXIT = 128 + 13  # SIGPIPE, as the shell reports a tool its reader left


def parser() -> argparse.ArgumentParser:
    """Command-line grammar (pure)."""
    top = argparse.ArgumentParser(prog="axion", description="Axion Build: compiled, "
                                  "per-service images and deploy files for a package.",
                                  epilog="axion init <package> --app-root PATH writes "
                                  "config/<package>.yaml and dodo.py (axion init --help)")
    # `init` is dispatched before this grammar (it has its own); listed so --help names it
    top.add_argument("verb", choices=("init", *VERBS))
    top.add_argument("package")
    top.add_argument("name", nargs="?", default="", metavar="service",
                     help="start, stop, restart, status: only this service")
    top.add_argument("--skip-compile", action="store_true",
                     help="reuse the last complete compiled output")
    top.add_argument("--skip-push", action="store_true", help="build but do not push")
    top.add_argument("--skip-deploy", action="store_true", help="do not scaffold deploy files")
    top.add_argument("--pull", action="store_true",
                     help="pull registry base images again (images.bootstrap: false)")
    top.add_argument("--expect-noop", action="store_true",
                     help="fail, naming each task and why, if anything has work to do")
    top.add_argument("--notify", metavar="ADDR", default="", help="email the build report")
    top.add_argument("--platform", default="",
                     help="linux/amd64, linux/arm64 or both, comma-separated")
    top.add_argument("--service", default="", help="build and push only this service")
    top.add_argument("-n", "--process", type=int, default=0, help="parallel doit workers")
    top.add_argument("--config-dir", default="", help="folder of package configs")
    return top


def doit_arguments(args: argparse.Namespace) -> list[str]:
    """The doit command line for parsed arguments (pure)."""
    task = f"{args.verb}:{args.package}"
    if args.verb == "image" and args.service:
        task = f"image:{args.package}:{args.service}"
    line = ["run"]
    if args.process > 1:
        line += ["-n", str(args.process), "-P", "process"]
    line.append(task)
    if args.verb == "keys":  # the PEM pair and the cosign pair
        line.append(f"keys:{args.package}:cosign")
    flags = {"skip_compile": args.skip_compile, "skip_push": args.skip_push,
             "skip_deploy": args.skip_deploy, "pull_bases": args.pull,
             "expect_noop": args.expect_noop}
    line += [f"{name}=1" for name, on in flags.items() if on]
    for name in ("notify", "platform", "service"):
        value = getattr(args, name)
        if value:
            line.append(f"{name}={value}")
    return line


def run_doit(root: Path, arguments: list[str]) -> int:
    """Run doit on the project's own dodo.py, with its pyproject's [tool.doit] settings."""
    from doit.cmd_base import ModuleTaskLoader
    from doit.doit_cmd import DoitMain
    from doit.loader import get_module

    # doit's hints name its own command ("doit list"), which works here; "axion list" does not
    DoitMain.BIN_NAME = "doit"
    dodo = get_module(str(root / "dodo.py"), str(root))
    return DoitMain(ModuleTaskLoader(dodo), config_filenames=[str(root / "pyproject.toml")],
                    extra_config={}).run(arguments)


def own_code_command(root: Path, argv: list[str]) -> list[str] | None:
    """The command that runs this checkout's own code, when `root` is another checkout
    of this tool than the one imported (a venv installed from one clone, run in another)."""
    if root == paths.PACKAGE_DIR.parent or not (root / "axion_build" / "cli.py").is_file():
        return None
    return [sys.executable, "-m", "axion_build.cli", *argv]


def init_parser() -> argparse.ArgumentParser:
    """Grammar of `axion init` (pure)."""
    top = argparse.ArgumentParser(prog="axion init", description="Write config/<package>.yaml "
                                  "and a dodo.py for the app tree, at the top of this repo.")
    top.add_argument("package")
    top.add_argument("--app-root", required=True, help="the app tree (factory.*, Serve*.py)")
    top.add_argument("--repo", default=".", help="the repo's top folder (default: here)")
    return top


def init_command(argv: list[str]) -> int:
    """`axion init <package> --app-root PATH`: the config and dodo.py, never overwritten."""
    from axion_build.config.values import SAFE_NAME
    from axion_build.init import app_root_problem, init_repo, repo_problem

    args = init_parser().parse_args(argv)
    app_root, repo = Path(args.app_root), Path(args.repo)
    problem = (f"{args.package!r} is not a package name (lower-case letters, digits, '-' "
               "and '_')" if not SAFE_NAME.match(args.package) else
               repo_problem(repo) or app_root_problem(app_root, repo))
    if problem:
        print(f"axion init: {problem}", file=sys.stderr)
        return 2
    for line in init_repo(args.package, app_root, repo):
        print(line)
    print(f"next: doit keys:{args.package} pipeline:{args.package}   (or: axion pipeline "
          f"{args.package})")
    return 0


def quiet_on_closed_pipe(command: Callable[[], int]) -> int:
    """Run `command`, ending as a Unix tool does when its reader goes away (`| head`).

    The exit is 141 (128 + SIGPIPE), what the shell reports for `cat` in that place:
    the output was not all delivered, which `set -o pipefail` should still see.
    """
    try:
        code = command()
        sys.stdout.flush()  # inside the try: a write left in the buffer fails here
    except BrokenPipeError:
        # the interpreter flushes stdout again on exit: point it where that cannot fail
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return BROKEN_PIPE_EXIT
    return code


def stack_verb(verb: str, package: str, service: str) -> int:
    """`axion start|stop|restart|status <package> [service]` on the deployed stack."""
    from axion_build.config.packages import PACKAGES
    from axion_build.config.problems import ConfigError
    from axion_build.deploy.control import stack_command

    cfg = PACKAGES.get(package)
    if isinstance(cfg, ConfigError):
        print(cfg.report(), file=sys.stderr)
        return 2
    return stack_command(verb, cfg, service)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `axion` script."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["init"]:
        return init_command(argv[1:])
    args = parser().parse_args(argv)
    if args.verb == "init":  # `axion --skip-push init ...`: only `axion init ...` is init
        parser().error("init takes its own options: axion init <package> --app-root PATH")
    if args.name and args.verb not in STACK_VERBS:
        parser().error(f"a service name follows only {', '.join(STACK_VERBS)} "
                       f"(for {args.verb}: --service {args.name})")
    if args.config_dir:
        os.environ["AXION_CONFIG_DIR"] = str(Path(args.config_dir).resolve())
    # doit's settings, its database and the default config folder are the project's:
    # the checkout the command runs in, never the one the venv was set up from
    root = paths.find_project_root()
    if root is None:
        print("axion: no dodo.py (nor a pyproject.toml with [tool.axion]) here or above: "
              "run `axion init <package> --app-root PATH` at the top of the repo",
              file=sys.stderr)
        return 2
    os.chdir(root)
    command = own_code_command(root, argv)
    if command:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            filter(None, [str(root), os.environ.get("PYTHONPATH", "")]))}
        os.execve(command[0], command, env)
    sys.path.insert(0, str(root))
    if args.verb in ("explain", "summary", "registry"):
        from axion_build.records.inspect import inspect_command

        return quiet_on_closed_pipe(lambda: inspect_command(args.verb, args.package))
    if args.verb in STACK_VERBS:
        return stack_verb(args.verb, args.package, args.name)
    return run_doit(root, doit_arguments(args))


if __name__ == "__main__":
    sys.exit(main())
