"""Whether a `database.url` can hold the build records, found out without connecting.

validate refuses a URL that cannot work (a run would have nowhere to write its
record), and the records spool a run whose URL is unusable under no database at all,
so the next run that reaches one writes it, whatever URL that run is given.
"""

from __future__ import annotations

URL_FIX = ("use mysql+mysqldb://user@host:3306/name (MariaDB/MySQL), "
           "sqlite:////absolute/path/records.sqlite3, or leave it empty for SQLite in the "
           "build folder")


def url_problem(url: str) -> str:
    """Why SQLAlchemy cannot keep the records at `url` ('' when it can); never connects."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    try:
        engine = create_engine(url, poolclass=NullPool)
    except ModuleNotFoundError as exc:
        extra = (": pip install 'axion-build[mysql]' (it builds against libmariadb-dev)"
                 if exc.name == "MySQLdb" else "")
        return f"its database driver is not installed (no Python module {exc.name!r}){extra}"
    except Exception as exc:  # what SQLAlchemy raises names no password
        return f"not a database URL SQLAlchemy can use ({type(exc).__name__}: {exc})"
    parsed = engine.url
    engine.dispose()
    if parsed.port is not None and not 1 <= parsed.port <= 65535:
        return f"port {parsed.port} is not a port number (1-65535)"
    if parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:"):
        return "an in-memory SQLite database loses every record when the run ends"
    return ""
