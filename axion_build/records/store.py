"""Build records: the seed's three tables, written through SQLAlchemy, never lost.

An empty `database.url` means SQLite in the build folder; any other URL (e.g.
`mysql+mysqldb://axion@db:3306/axion`) is used as given, with `database.password`
filled in when the URL has none. A run that cannot be written is spooled as JSON
(spool.py: in `<build>/spool/`, else outside the build folder) and written by the next
run that reaches the same database; a run whose URL is unusable, by the next run that
reaches any database of its package.

Only the places that write or read records import this module, inside the function
that does it (the end of a run, the report, `axion explain`): SQLAlchemy takes a fifth
of a second to import, which `import dodo` (every doit command, `doit list` and tab
completion too) must not pay. The records themselves are the plain dataclasses of
model.py; their tables, in tables.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, delete, func, insert, select
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from axion_build.config.model import DatabaseSpec, PackageConfig
from axion_build.config.packages import PACKAGES, config_dir
from axion_build.records.model import BuildCompile, BuildRecord, BuildRun, BuildStep, from_row
from axion_build.records.spool import spool, spool_dirs, spooled
from axion_build.records.tables import COMPILE_TABLE, METADATA, RUN_TABLE, STEP_TABLE

SQLITE_NAME = "records.sqlite3"


def records_url(cfg: PackageConfig) -> str:
    """The records database of a package."""
    return database_url(cfg.database, cfg.build_root)


def database_url(spec: DatabaseSpec, build_root: Path) -> str:
    """The SQLAlchemy URL of the records database (password from the spec if missing)."""
    if not spec.url:
        return f"sqlite:///{build_root / SQLITE_NAME}"
    url = make_url(spec.url)
    if spec.password and not url.password:
        url = url.set(password=spec.password)
    if url.get_backend_name() in ("mysql", "mariadb") and "charset" not in url.query:
        url = url.update_query_dict({"charset": "utf8mb4"})
    return url.render_as_string(hide_password=False)


def database_key(url: str) -> str:
    """The URL without its password: names a database in spool files and messages;
    '' for a URL SQLAlchemy cannot use (its text may hold a password)."""
    from axion_build.records.dburl import url_problem

    if url_problem(url):
        return ""
    return make_url(url).render_as_string(hide_password=True)


def open_engine(url: str) -> Engine:
    """An engine that connects on demand and gives up quickly on a dead server."""
    parsed = make_url(url)
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() in ("mysql", "mariadb"):
        connect_args["connect_timeout"] = 5
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    return create_engine(url, poolclass=NullPool, connect_args=connect_args)


def write_record(engine: Engine, record: BuildRecord) -> None:
    """Write one run in one transaction; writing the same run again replaces it."""
    guid = record.run.BuildGuid
    METADATA.create_all(engine, checkfirst=True)
    with engine.begin() as conn:
        for table in (COMPILE_TABLE, STEP_TABLE, RUN_TABLE):
            conn.execute(delete(table).where(table.c.BuildGuid == guid))
        conn.execute(insert(RUN_TABLE), [asdict(record.run)])
        if record.steps:
            conn.execute(insert(STEP_TABLE),
                         [{**asdict(s), "BuildGuid": guid} for s in record.steps])
        if record.compiles:
            conn.execute(insert(COMPILE_TABLE),
                         [{**asdict(c), "BuildGuid": guid} for c in record.compiles])


@dataclass
class StoreResult:
    """What `store` did: runs written (with replayed spool files), spooled, and why."""

    written: list[str] = field(default_factory=list)
    replayed: list[str] = field(default_factory=list)
    spooled: list[Path] = field(default_factory=list)
    error: str = ""


def store(url: str, dirs: list[Path], records: list[BuildRecord]) -> StoreResult:
    """Write `records` and any spooled runs of that database; spool what cannot be written."""
    result = StoreResult()
    engine = None
    try:
        engine = open_engine(url)
        for record in records:
            write_record(engine, record)
            result.written.append(record.run.BuildGuid)
    except Exception as exc:  # any failure to write must not lose the run
        result.error = first_line(exc)
        done, key = set(result.written), database_key(url)
        result.spooled = [spool(dirs, key, r) for r in records if r.run.BuildGuid not in done]
        if engine is not None:
            engine.dispose()
        return result
    try:
        packages = {r.run.Package for r in records}
        result.replayed = replay_spool(engine, dirs, database_key(url), packages)
    except Exception as exc:
        result.error = f"spooled runs not written yet: {first_line(exc)}"
    engine.dispose()
    return result


def package_config(package: str) -> PackageConfig | None:
    """The package's valid config, or None."""
    cfg = PACKAGES.get(package) if package else None
    return cfg if isinstance(cfg, PackageConfig) else None


def record_target(package: str) -> tuple[str, Path]:
    """The records URL of a package (its own text when unusable) and its build root."""
    cfg = package_config(package)
    build_root = cfg.build_root if cfg else config_dir().parent / "build"
    try:
        return (records_url(cfg) if cfg else database_url(DatabaseSpec(), build_root)), build_root
    except Exception:  # a malformed database.url: `store` spools the run
        return cfg.database.url, build_root


def store_records(records: Mapping[str, BuildRecord]) -> list[str]:
    """Write each package's record to its database (spooling what cannot be); messages."""
    targets: dict[str, tuple[Path, list[BuildRecord]]] = {}
    for package, record in records.items():
        url, build_root = record_target(package)
        targets.setdefault(url, (build_root, []))[1].append(record)
    lines = []
    for url, (build_root, batch) in targets.items():
        result = store(url, spool_dirs(build_root), batch)
        lines += store_messages(url, batch, result)
    return lines


def store_messages(url: str, batch: list[BuildRecord], result: StoreResult) -> list[str]:
    """What `store` did with the runs of one database, one line each."""
    name = database_key(url) or "database.url (not a usable URL: fix it with 'axion validate')"
    lines = []
    for record in batch:
        run = record.run
        if run.BuildGuid in result.written:
            lines.append(f"recorded build {run.BuildGuid} of {run.Package or '(no package)'}"
                         f": {run.Status} in {run.ElapsedSeconds:.1f} s")
    if result.replayed:
        lines.append(f"wrote {len(result.replayed)} spooled run(s) to {name}")
    if result.spooled:
        lines.append(f"WARNING: records database {name} not written ({result.error}); run "
                     f"spooled to {', '.join(map(str, result.spooled))}; the next run that "
                     "reaches the database writes it")
    elif result.error:
        lines.append(f"WARNING: {result.error}")
    return lines


def replay_spool(engine: Engine, dirs: list[Path], key: str, packages: set[str]) -> list[str]:
    """Write spooled runs meant for this database, oldest first, removing each once written."""
    written = []
    for path, record in spooled(dirs, key, packages):
        write_record(engine, record)
        path.unlink(missing_ok=True)
        written.append(record.run.BuildGuid)
    return written


def first_line(exc: BaseException) -> str:
    """A one-line description of a database error."""
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def latest_runs(engine: Engine, package: str, limit: int = 10) -> list[BuildRun]:
    """The package's most recent runs, newest first."""
    if not has_tables(engine):
        return []
    query = (select(RUN_TABLE).where(RUN_TABLE.c.Package == package)
             .order_by(RUN_TABLE.c.StartTime.desc()).limit(limit))
    with engine.connect() as conn:
        return [from_row(BuildRun, row) for row in conn.execute(query)]


def load_record(engine: Engine, guid: str) -> BuildRecord | None:
    """The run, steps and compiled modules of one build."""
    if not has_tables(engine):
        return None
    with engine.connect() as conn:
        run = conn.execute(select(RUN_TABLE).where(RUN_TABLE.c.BuildGuid == guid)).first()
        if run is None:
            return None
        steps = conn.execute(select(STEP_TABLE).where(STEP_TABLE.c.BuildGuid == guid)
                             .order_by(STEP_TABLE.c.Seq))
        compiles = conn.execute(select(COMPILE_TABLE).where(COMPILE_TABLE.c.BuildGuid == guid)
                                .order_by(COMPILE_TABLE.c.Id))
        return BuildRecord(run=from_row(BuildRun, run),
                           steps=tuple(from_row(BuildStep, s) for s in steps),
                           compiles=tuple(from_row(BuildCompile, c) for c in compiles))


def last_compiling_run(engine: Engine, package: str, until: datetime) -> str | None:
    """The guid of the package's most recent run (up to `until`) that has compile records."""
    if not has_tables(engine):
        return None
    query = (select(RUN_TABLE.c.BuildGuid)
             .join(COMPILE_TABLE, COMPILE_TABLE.c.BuildGuid == RUN_TABLE.c.BuildGuid)
             .where(RUN_TABLE.c.Package == package, RUN_TABLE.c.StartTime <= until)
             .group_by(RUN_TABLE.c.BuildGuid, RUN_TABLE.c.StartTime)
             .having(func.count(COMPILE_TABLE.c.Id) > 0)
             .order_by(RUN_TABLE.c.StartTime.desc()).limit(1))
    with engine.connect() as conn:
        return conn.execute(query).scalar()


def has_tables(engine: Engine) -> bool:
    """True once the first run created the tables."""
    from sqlalchemy import inspect

    return inspect(engine).has_table(RUN_TABLE.name)
