"""The seed's three records tables and the deployments table, as SQLAlchemy sees them; on
MariaDB, timestamps keep microseconds and compiler errors fit."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Double, Integer, MetaData, String, Table, Text
from sqlalchemy.dialects import mysql


def long_text() -> Text:
    """A TEXT column that holds a full compiler error on MariaDB too."""
    return Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")


def timestamp() -> DateTime:
    """Microsecond timestamps, so runs of the same second still sort."""
    return DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


METADATA = MetaData()
RUN_TABLE = Table(
    "log_build_run", METADATA,
    Column("BuildGuid", String(36), primary_key=True),
    Column("Package", String(100), nullable=False, index=True),
    Column("Status", String(16), nullable=False),
    Column("StartTime", timestamp(), nullable=False, index=True),
    Column("EndTime", timestamp()),
    Column("ElapsedSeconds", Double),
    Column("Platform", String(200)),
    Column("HostArch", String(32)),
    Column("HostOS", String(200)),
    Column("Flags", Text),
    Column("Command", Text),
    Column("TaskCount", Integer),
    Column("FailedCount", Integer),
)
STEP_TABLE = Table(
    "log_build_step", METADATA,
    Column("Id", Integer, primary_key=True, autoincrement=True),
    Column("BuildGuid", String(36), nullable=False, index=True),
    Column("Seq", Integer, nullable=False),
    Column("Stage", String(32), nullable=False),
    Column("Task", String(500), nullable=False),
    Column("Platform", String(64)),
    Column("Status", String(16), nullable=False),
    Column("StartTime", timestamp()),
    Column("ElapsedSeconds", Double),
    Column("Reason", Text),
    Column("Detail", long_text()),
    Column("Error", long_text()),
)
COMPILE_TABLE = Table(
    "log_build_compile", METADATA,
    Column("Id", Integer, primary_key=True, autoincrement=True),
    Column("BuildGuid", String(36), nullable=False, index=True),
    Column("FactorySet", String(200), nullable=False),
    Column("Module", String(500), nullable=False),
    Column("Platform", String(64), nullable=False),
    Column("CompileSuccess", String(1), nullable=False),
    Column("CompileError", long_text()),
    Column("CompileStatus", String(16), nullable=False),
    Column("ElapsedSeconds", Double),
    Column("Task", String(500)),
)
DEPLOYMENT_TABLE = Table(
    "log_deployment", METADATA,
    Column("Id", Integer, primary_key=True, autoincrement=True),
    Column("Package", String(100), nullable=False, index=True),
    Column("BuildGuid", String(36), nullable=False, index=True),
    Column("Project", String(100), nullable=False),
    Column("Digests", Text, nullable=False),
    Column("ConfigHash", String(64), nullable=False),
    Column("Status", String(16), nullable=False),
    Column("Detail", long_text()),
    Column("DeployTime", timestamp(), nullable=False, index=True),
)
