"""A deployment on the k3s substrate where no cluster exists: the scaffold's Helm chart is
linted and rendered for real, and the record says that no cluster was run.

Helm comes from the `helm-python-sdk` package (Helm as a shared library); without it, or
without a `helm` binary, the chart's Chart.yaml and values.yaml are parsed as YAML and the
assertion says that the templates were not rendered.
"""

from __future__ import annotations

from pathlib import Path

from axion_build.config.model import PackageConfig
from axion_build.deploy.errors import DeployError
from axion_build.deploy.gate import assertion
from axion_build.deploy.scaffold import deploy_dir
from axion_build.deploy.stack import Result, project_name

CHART = "chart"  # the key of a k3s deployment's "digests": the chart folder it rendered
NO_CLUSTER = ("skipped: no cluster was run (this host has no k3s or Kubernetes API); on a "
              "cluster, `helm upgrade --install` of this chart would follow")


def chart_dir(cfg: PackageConfig) -> Path:
    """The chart the k3s scaffold wrote."""
    return (deploy_dir(cfg, "k3s") / "helm" / cfg.name).resolve()


def chart_folder(cfg: PackageConfig, build: str) -> dict[str, str]:
    """The chart to render; DeployError when the scaffold has not written it."""
    folder = chart_dir(cfg)
    if not (folder / "Chart.yaml").is_file():
        raise DeployError(f"no Helm chart at {folder}: run `doit scaffold:{cfg.name}` with "
                          "deployment.substrate: k3s first")
    return {CHART: str(folder)}


def lint_assertion(report: dict) -> dict:
    """`helm lint --strict` of the chart as an assertion (pure): errors and warnings fail."""
    bad = [m for m in report.get("messages", []) if m.get("severity", 0) >= 2]
    problems = [str(e) for e in report.get("errors", [])] + [
        f"{m.get('path', '')}: {m.get('err') or m.get('message') or m}" for m in bad]
    return assertion("chart: helm lint --strict", not problems,
                     "; ".join(problems) or f"{len(report.get('messages', []))} message(s), "
                                             "none a warning or error")


def kinds(rendered: dict[str, str]) -> dict[str, int]:
    """Kubernetes kind → how many objects of it the rendered templates hold (pure)."""
    import yaml

    counted: dict[str, int] = {}
    for name, text in rendered.items():
        if not name.endswith(".yaml"):
            continue
        for doc in yaml.safe_load_all(text):
            if isinstance(doc, dict) and "kind" in doc:
                counted[doc["kind"]] = counted.get(doc["kind"], 0) + 1
    return counted


def render_assertion(cfg: PackageConfig, counted: dict[str, int]) -> dict:
    """The rendered chart has a Deployment per service and Caddy (pure)."""
    wanted = len(cfg.services) + 1
    got = counted.get("Deployment", 0)
    detail = ", ".join(f"{n} {k}" for k, n in sorted(counted.items())) or "no objects"
    return assertion("chart: renders a Deployment per service and Caddy", got == wanted,
                     f"{detail} (expected {wanted} Deployment)")


def helm_checks(cfg: PackageConfig, folder: Path) -> list[dict]:
    """Lint and render the chart with Helm's library; a failed assertion names the error."""
    import helm_python as helm

    try:
        checks = [lint_assertion(helm.lint(str(folder), strict=True))]
        with helm.Chart.load(str(folder)) as loaded:
            rendered = loaded.render(name=cfg.name, namespace=project_name(cfg),
                                     is_install=True)
    except helm.HelmError as exc:
        return [assertion("chart: helm lint and render", False, f"{folder}: {exc}")]
    return [*checks, render_assertion(cfg, kinds(rendered))]


def yaml_checks(folder: Path) -> list[dict]:
    """Without Helm: Chart.yaml and values.yaml parse as YAML (templates not rendered)."""
    import yaml

    for name in ("Chart.yaml", "values.yaml"):
        try:
            yaml.safe_load((folder / name).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            return [assertion("chart: parses as YAML", False, f"{folder / name}: {exc}")]
    return [assertion("chart: parses as YAML", True,
                      "Chart.yaml and values.yaml parse; the templates were not rendered: "
                      "no Helm here (pip install helm-python-sdk, or a helm binary)")]


def has_helm() -> bool:
    """Whether Helm's library can be imported here."""
    try:
        import helm_python  # noqa: F401
    except ImportError:
        return False
    return True


def bring_up(cfg: PackageConfig, images: dict[str, str], build: str) -> Result:
    """Lint and render the chart; the cluster assertion says none was run."""
    folder = Path(images[CHART])
    checks = helm_checks(cfg, folder) if has_helm() else yaml_checks(folder)
    cluster = {**assertion("cluster: deployed", True, NO_CLUSTER), "skipped": True}
    return Result(images, [*checks, cluster])


def bring_down(cfg: PackageConfig) -> str:
    """Nothing runs on a cluster from here: nothing to take down."""
    return ""

