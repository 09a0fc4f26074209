"""Database engines from URLs, with credentials kept out of every message."""

from pathlib import Path

import sqlalchemy as sa


def redacted(url: str) -> str:
    """The URL with its password masked, safe for logs and the UI."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(unparseable database URL)"


def create_engine_for(url: str, *, read_only: bool = False) -> sa.Engine:
    """An engine for `url`; read-only at the database level when asked (the CRM)."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        if read_only and database and database != ":memory:":
            uri = f"file:{Path(database).resolve()}?mode=ro"
            return sa.create_engine("sqlite://", creator=_sqlite_reader(uri))
        return sa.create_engine(parsed)
    if parsed.get_backend_name() == "postgresql" and read_only:
        return sa.create_engine(parsed, connect_args={
            "options": "-c default_transaction_read_only=on"})
    return sa.create_engine(parsed)


def _sqlite_reader(uri: str):
    import sqlite3

    def connect():
        return sqlite3.connect(uri, uri=True, check_same_thread=False)

    return connect
