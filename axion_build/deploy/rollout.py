"""The deploy stage's action: deploy the images this build pushed, gate, and on a failed
gate go back to the last deployment that passed (or take the stack down when none did).

Every deployment is a row of `log_deployment`; the step's detail holds the gate's
assertions (also of a failed deploy, through the task's values).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from doit.exceptions import TaskFailed

from axion_build.config.model import SCHEMA, PackageConfig, env_name, native_platform
from axion_build.config.runtime import runtime_config_path
from axion_build.deploy import chart, native, stack
from axion_build.deploy.errors import DeployError
from axion_build.deploy.gate import failed
from axion_build.deploy.scaffold import OVERRIDABLE_SECTIONS
from axion_build.deploy.stack import Result, project_name

if TYPE_CHECKING:
    from axion_build.records.deployments import Deployment


def built_images(cfg: PackageConfig, platform: str | None = None) -> dict[str, str]:
    """Service → `repo@sha256:…` of this checkout's build, as the registry holds it under
    its inputs tag (what this run pushed, or found pushed); DeployError naming what is not."""
    from axion_build.deploy.pins import PinError, published
    from axion_build.publish.push import push_ref

    try:
        pins = published(cfg, (platform or native_platform(),))
    except PinError as exc:
        raise DeployError(str(exc)) from exc
    if pins.missing:
        raise DeployError(f"no pushed image of this build for {', '.join(pins.missing)} in "
                          f"{cfg.registry.url}: run `doit push:{cfg.name}` (or the pipeline "
                          "without skip_push) first")
    return {t: f"{push_ref(cfg, t)}@{d}" for t, d in pins.digests.items()}


def verified_images(cfg: PackageConfig, build: str) -> dict[str, str]:
    """This build's images, each verified (signature, attestations, SBOM) before anything
    runs; DeployError naming every image that does not verify."""
    from axion_build.publish.verify import refusals

    images = built_images(cfg)
    refused = refusals(cfg, images)
    if refused:
        raise DeployError("refusing to deploy images that do not verify (`doit verify:"
                          f"{cfg.name}` says more):\n" + "\n".join(
                              f"  - {image}: {why}" for image, why in refused.items()))
    return images


def image_refusals(cfg: PackageConfig, images: dict[str, str]) -> dict[str, str]:
    """Of a deployment gone back to, each image that no longer verifies (signature,
    attestations, SBOM by a trusted key), with why; its inputs and modules are an older
    build's, so they are not compared with this checkout's."""
    from axion_build.adapters.registry import RegistryError
    from axion_build.publish.verify import refusals

    try:
        return refusals(cfg, images, tree=False)
    except RegistryError as exc:  # a registry that does not answer vouches for nothing
        return {image: f"cannot be verified: {exc}" for image in images.values()}


def nothing_to_recheck(cfg: PackageConfig, images: dict[str, str]) -> dict[str, str]:
    """A substrate whose deployments run no registry image: nothing to verify again."""
    return {}


def nothing_left(cfg: PackageConfig) -> tuple[dict[str, str] | None, str]:
    """A substrate whose `down` cannot fail: nothing runs afterwards."""
    return {}, ""


@dataclass(frozen=True)
class Runner:
    """How one substrate deploys: what it runs of this build, bringing it up (with the
    gate) and down, what taking it down is called in messages, what a rollback verifies
    again and what still runs after a `down` that failed."""

    substrate: str
    prepare: Callable[[PackageConfig, str], dict[str, str]]
    up: Callable[[PackageConfig, dict[str, str], str], Result]
    down: Callable[[PackageConfig], str]
    down_name: str
    recheck: Callable[[PackageConfig, dict[str, str]], dict[str, str]] = nothing_to_recheck
    left: Callable[[PackageConfig], tuple[dict[str, str] | None, str]] = nothing_left


RUNNERS = {
    "compose": Runner("compose", verified_images, stack.bring_up,
                      stack.bring_down, "compose down", image_refusals, stack.still_running),
    "supervisor": Runner("supervisor", native.release_tree, native.bring_up,
                         native.bring_down, "supervisord stopped",
                         left=native.still_running),
    "k3s": Runner("k3s", chart.chart_folder, chart.bring_up, chart.bring_down,
                  "nothing to take down (no cluster)"),
}


def deployment_key(cfg: PackageConfig) -> str:
    """The records' Project of the package's deployments: the compose project, and
    `<project>:supervisor` for the native ones, so a rollback never crosses substrates."""
    project = project_name(cfg)
    return project if cfg.deployment.substrate == "compose" else (
        f"{project}:{cfg.deployment.substrate}")


def runtime_overrides(environ: Mapping[str, str]) -> dict[str, str]:
    """The `AXION_{SECTION}_{OPTION}` overrides of the runtime sections in `environ`: what
    a deployment passes on to its services besides config.yaml (pure)."""
    names = {env_name((section, option)) for section in OVERRIDABLE_SECTIONS
             for option in SCHEMA[section]}
    return {name: value for name, value in environ.items() if name in names}


def config_hash(cfg: PackageConfig, environ: Mapping[str, str] | None = None) -> str:
    """sha256 of the runtime config the deployment runs with: the config.yaml it mounts and
    the runtime overrides of the environment ('' before `config:`); without overrides, of
    the file alone (as recorded before overrides counted)."""
    path = runtime_config_path(cfg.build_dir)
    if not path.is_file():
        return ""
    digest = hashlib.sha256(path.read_bytes())
    if overrides := runtime_overrides(os.environ if environ is None else environ):
        digest.update(b"\0" + json.dumps(overrides, sort_keys=True).encode())
    return digest.hexdigest()


def record(cfg: PackageConfig, build: str, result: Result, status: str) -> str:
    """Save one deployment in the records; '' when saved, else a warning."""
    from axion_build.records.deployments import Deployment, save_deployment
    from axion_build.records.runs import utc_now

    try:
        save_deployment(cfg, Deployment(
            Package=cfg.name, BuildGuid=build, Project=deployment_key(cfg),
            Digests=json.dumps(result.images, sort_keys=True), ConfigHash=config_hash(cfg),
            Status=status, Detail=json.dumps(result.assertions), DeployTime=utc_now()))
    except Exception as exc:  # the deployment stands whether or not its row is written
        return f"WARNING: deployment not recorded in the records database: {exc}"
    return ""


def listing(assertions: list[dict]) -> str:
    """Failed assertions, one `name: detail` a line (pure)."""
    return "\n".join(f"  - {a['name']}: {a['detail']}" for a in failed(assertions))


def running_text(running: dict[str, str]) -> str:
    """What runs, `service=image` (pure)."""
    return ", ".join(f"{s}={ref}" for s, ref in sorted(running.items())) or "nothing"


def deploy_action(cfg: PackageConfig, task: Any) -> dict | TaskFailed:
    """doit action: deploy this build's images, gate, roll back on a failed gate."""
    from axion_build.records.deployments import FAILED, PASSED, last_good
    from axion_build.records.runstate import run_guid

    build = run_guid(cfg.name)
    runner = RUNNERS[cfg.deployment.substrate]
    try:
        images = runner.prepare(cfg, build)
    except DeployError as exc:
        return TaskFailed(f"deploy:{cfg.name}: {exc}")
    project = project_name(cfg)
    try:  # before this deployment is recorded
        good, unknown = last_good(cfg, deployment_key(cfg)), ""
    except Exception as exc:  # the deploy goes on; only a rollback needs the records
        good, unknown = None, f"the records cannot be read ({type(exc).__name__}: {exc})"
    result = runner.up(cfg, images, build)
    values = {"project": project, "images": images, "gate": result.assertions,
              "passed": result.passed, "substrate": runner.substrate,
              "target": cfg.deployment.target}
    warning = record(cfg, build, result, PASSED if result.passed else FAILED)
    if warning:
        print(warning)
    if result.passed:
        keep_releases(cfg, images, None)
        print(f"deployed {project} ({runner.substrate}): the gate passed "
              f"({len(result.assertions)} assertions); running {running_text(result.running)}")
        return values
    message, values["rollback"] = recover(cfg, good, result, unknown)
    keep_releases(cfg, {}, good)  # the failed copy is never gone back to
    if task is not None:
        task.values.update(values)  # a failed task keeps no returned values
    return TaskFailed(message)


def recover(cfg: PackageConfig, good: Deployment | None, result: Result,
            unknown: str = "") -> tuple[str, dict]:
    """After a failed gate: the last good deployment again, else the stack down; the
    task's message and what was done (`unknown`: why no good deployment is known)."""
    runner = RUNNERS[cfg.deployment.substrate]
    project = project_name(cfg)
    head = (f"deploy:{cfg.name}: the gate of {project} failed:\n{listing(result.assertions)}\n")
    if good is None:
        problem = runner.down(cfg)
        done = f"stack down failed too: {problem}" if problem else "the stack is down"
        reason = unknown or f"no earlier deployment of {project} passed its gate"
        return (head + f"{reason}, so nothing to go back to: {runner.down_name}, {done}; "
                f"{after_down(runner, cfg, problem)}"), {"down": not problem}
    if refused := runner.recheck(cfg, good.digests):
        return head + refused_text(good.BuildGuid, refused, result), {
            "refused_build": good.BuildGuid, "refused": refused, "running": result.running}
    message, what = go_back(cfg, runner, good)
    changed = config_note(good.BuildGuid, good.ConfigHash, config_hash(cfg),
                          tuple(sorted(runtime_overrides(os.environ))))
    if changed:
        what["config_changed"] = True
    return head + message + changed, what


def go_back(cfg: PackageConfig, runner: Runner, good: Deployment) -> tuple[str, dict]:
    """Run the good deployment's images again and gate them; down when that fails too."""
    from axion_build.records.deployments import FAILED, ROLLED_BACK

    back = runner.up(cfg, good.digests, good.BuildGuid)
    if warning := record(cfg, good.BuildGuid, back, ROLLED_BACK if back.passed else FAILED):
        print(warning)
    what = {"to_build": good.BuildGuid, "images": good.digests, "gate": back.assertions,
            "passed": back.passed}
    if back.passed:
        return (f"rolled back to the last good deployment (build {good.BuildGuid}), whose "
                f"gate passed again; running now: {running_text(back.running)}"), what
    problem = runner.down(cfg)
    what["down"] = not problem
    return (f"the rollback to build {good.BuildGuid} failed its gate too:\n"
            f"{listing(back.assertions)}\n{runner.down_name}: "
            f"{problem or 'the stack is down'}; {after_down(runner, cfg, problem)}"), what


def refused_text(build: str, refused: dict[str, str], result: Result) -> str:
    """Why a rollback did not start, naming each image, and what is left running (pure)."""
    return (f"not rolled back to the last good deployment (build {build}): its images no "
            "longer verify (signature, attestations and SBOM by a trusted key):\n"
            + "\n".join(f"  - {image}: {why}" for image, why in sorted(refused.items()))
            + f"\nnothing was started or stopped; running now: {running_text(result.running)}")


def after_down(runner: Runner, cfg: PackageConfig, problem: str) -> str:
    """What runs after taking the stack down: nothing when it went down, else what the
    engine says still runs, or that this is unknown when it cannot be asked."""
    if not problem:
        return "nothing runs now"
    running, unknown = runner.left(cfg)
    if running is None:
        return f"what runs now is unknown: {unknown}"
    return f"still running: {running_text(running)}" if running else "nothing runs now"


def config_note(build: str, then: str, now: str, overrides: tuple[str, ...] = ()) -> str:
    """What a rollback says when the runtime config changed since the good deployment
    (pure): it goes back to that deployment's images, run with today's config (the file and
    the runtime `overrides` of the environment, by name)."""
    if not then or then == now:
        return ""
    by = f" (config.yaml and {', '.join(overrides)} from the environment)" if overrides else ""
    return (f"\nnote: build {build} was deployed with the runtime config sha256 {then[:12]}; "
            f"the rollback runs its images with the current one, sha256 {(now or '-')[:12]}"
            f"{by} (a rollback restores images, not config: revert the config change and "
            "deploy again to go back to both)")


def keep_releases(cfg: PackageConfig, current: dict[str, str],
                  good: Deployment | None) -> None:
    """On the supervisor substrate, keep only the app tree copies of what runs now and of
    the last good deployment; every older copy goes."""
    if cfg.deployment.substrate != "supervisor":
        return
    keep = {current.get(native.APP_TREE, ""), good.digests.get(native.APP_TREE, "") if good
            else ""}
    native.prune_releases(cfg, keep - {""})
