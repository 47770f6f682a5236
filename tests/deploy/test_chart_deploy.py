"""Deploy on the k3s substrate where no cluster exists: the chart linted and rendered with
Helm's library for real, the record saying no cluster was run; the checks as tables."""

from __future__ import annotations

import json
import sqlite3

import pytest

from axion_build.config.load import yaml_rt
from axion_build.deploy.chart import NO_CLUSTER, kinds, lint_assertion, yaml_checks
from needs import importorfail
from workspace import ROOT, make_workspace, provision

PACKAGE = "homechoice"


@pytest.mark.parametrize("report, passed, detail", [
    ({"errors": [], "messages": [{"severity": 1, "path": "Chart.yaml", "err": "icon"}]},
     True, "1 message(s), none a warning or error"),
    ({"errors": [], "messages": [{"severity": 2, "path": "templates/x.yaml", "err": "bad"}]},
     False, "templates/x.yaml: bad"),
    ({"errors": ["chart metadata is missing"], "messages": []}, False,
     "chart metadata is missing"),
])
def test_lint_assertion(report, passed, detail):
    found = lint_assertion(report)
    assert found["pass"] is passed and found["detail"] == detail


def test_kinds_counts_the_rendered_objects():
    rendered = {"c/templates/a.yaml": "kind: Deployment\n---\nkind: Service\n---\n"
                                      "kind: Deployment\n",
                "c/templates/NOTES.txt": "kind: Secret"}
    assert kinds(rendered) == {"Deployment": 2, "Service": 1}


def test_without_helm_a_broken_chart_yaml_is_named(tmp_path):
    (tmp_path / "Chart.yaml").write_text("name: [unclosed\n")
    (found,) = yaml_checks(tmp_path)
    assert not found["pass"] and found["detail"].startswith(f"{tmp_path / 'Chart.yaml'}: ")
    (tmp_path / "Chart.yaml").write_text("name: x\n")
    (tmp_path / "values.yaml").write_text("a: 1\n")
    (found,) = yaml_checks(tmp_path)
    assert found["pass"] and "the templates were not rendered" in found["detail"]


def test_k3s_deploy_lints_and_renders_and_records_no_cluster(tmp_path):
    importorfail("helm_python", "pip install helm-python-sdk")
    ws = make_workspace(tmp_path, PACKAGE, app_source=ROOT / "examples" / PACKAGE,
                        config_source=ROOT / "config" / f"{PACKAGE}.yaml")
    provision(ws)
    done = ws.doit(f"deploy:{PACKAGE}", AXION_DEPLOYMENT_TARGET="local",
                   AXION_DEPLOYMENT_SUBSTRATE="k3s")
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    assert "(k3s): the gate passed" in out
    with sqlite3.connect(tmp_path / "build" / "records.sqlite3") as conn:
        (project, status, digests, detail), = conn.execute(
            "SELECT Project, Status, Digests, Detail FROM log_deployment").fetchall()
    assert (project, status) == (f"axion-{PACKAGE}:k3s", "passed")
    assert json.loads(digests) == {"chart": str(ws.build / "deploy" / "k3s" / "helm" /
                                                PACKAGE)}
    checks = {a["name"]: a for a in json.loads(detail)}
    assert checks["chart: helm lint --strict"]["pass"] is True
    assert checks["chart: renders a Deployment per service and Caddy"]["detail"] == (
        "2 ConfigMap, 13 Deployment, 4 PersistentVolumeClaim, 6 Service (expected 13 "
        "Deployment)")
    assert checks["cluster: deployed"] == {"name": "cluster: deployed", "pass": True,
                                           "detail": NO_CLUSTER, "skipped": True}
    # the stack verbs say where a k3s deployment is driven from
    from axion_build.config.load import load_config
    from axion_build.deploy.control import stack_command

    doc = yaml_rt().load(ws.config_file.read_text())
    doc["deployment"]["substrate"] = "k3s"
    with ws.config_file.open("w") as handle:
        yaml_rt().dump(doc, handle)
    assert stack_command("status", load_config(ws.config_file, environ={})) == 2
