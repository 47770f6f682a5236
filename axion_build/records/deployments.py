"""Deployments in the records (`log_deployment`): each one with its gate's outcome, so a
failed gate can go back to the last deployment that passed.

Written by the deploy task while it runs (the build's own rows come at the end of the
run), in the package's records database; SQLAlchemy is imported here only.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import insert, select

from axion_build.config.model import PackageConfig
from axion_build.records.model import clip
from axion_build.records.store import open_engine, records_url
from axion_build.records.tables import DEPLOYMENT_TABLE, METADATA

PASSED = "passed"  # the gate passed: a deployment to go back to
FAILED = "failed"  # the gate failed (or the stack never came up)
ROLLED_BACK = "rolled-back"  # an earlier good deployment, run again after a failure


@dataclass(frozen=True)
class Deployment:
    """One deployment of a package: what ran (digest per service) and how its gate went."""

    Package: str
    BuildGuid: str
    Project: str
    Digests: str  # JSON: service → repo@sha256:…
    ConfigHash: str
    Status: str
    Detail: str
    DeployTime: datetime

    @property
    def digests(self) -> dict[str, str]:
        """Service → the image reference by digest it ran."""
        return json.loads(self.Digests or "{}")


def save_deployment(cfg: PackageConfig, deployment: Deployment) -> None:
    """Add one deployment to the package's records database (tables made on first use)."""
    engine = open_engine(records_url(cfg))
    try:
        METADATA.create_all(engine, checkfirst=True)
        with engine.begin() as conn:
            conn.execute(insert(DEPLOYMENT_TABLE),
                         [{**asdict(deployment), "Detail": clip(deployment.Detail)}])
    finally:
        engine.dispose()


def last_good(cfg: PackageConfig, project: str) -> Deployment | None:
    """The package's latest deployment to `project` whose gate passed, if any."""
    return latest(cfg, project, PASSED)


def latest(cfg: PackageConfig, project: str, status: str = "") -> Deployment | None:
    """The package's latest deployment to `project` (of `status`, when given)."""
    from sqlalchemy import inspect

    engine = open_engine(records_url(cfg))
    try:
        if not inspect(engine).has_table(DEPLOYMENT_TABLE.name):
            return None
        table = DEPLOYMENT_TABLE
        query = select(*(table.c[name] for name in Deployment.__dataclass_fields__)).where(
            table.c.Package == cfg.name, table.c.Project == project)
        if status:
            query = query.where(table.c.Status == status)
        query = query.order_by(table.c.DeployTime.desc(), table.c.Id.desc()).limit(1)
        with engine.connect() as conn:
            row = conn.execute(query).first()
        return Deployment(**row._mapping) if row is not None else None
    finally:
        engine.dispose()
