"""Database engines from URLs, retries with backoff, and credentials kept out of messages."""

import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import sqlalchemy as sa

log = logging.getLogger(__name__)
T = TypeVar("T")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class DatabaseUnavailableError(RuntimeError):
    """A database did not answer after the allowed retries."""


def identifier(value: str, what: str) -> str:
    """A SQL identifier taken from configuration, refused unless it is a plain name."""
    if not _IDENTIFIER.match(value):
        raise ValueError(f"{what} {value!r} is not a plain SQL identifier "
                         "(letters, digits and _, not starting with a digit)")
    return value


def with_retries(action: Callable[[], T], *, what: str, attempts: int = 4,
                 backoff_seconds: float = 2.0) -> T:
    """Run `action`; on a lost or refused connection wait and try again, doubling the wait.

    After `attempts` tries, fail with a message that names `what` (never a password).
    """
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except Exception as exc:
            lost = _connection_error(exc)
            if lost is None:
                raise
            reason = _first_line(lost)
            if attempt == attempts:
                raise DatabaseUnavailableError(
                    f"{what} did not answer after {attempts} attempts: {reason}") from None
            wait = backoff_seconds * 2 ** (attempt - 1)
            log.warning("%s: attempt %d of %d failed (%s); retrying in %.1f s", what, attempt,
                        attempts, reason, wait)
            time.sleep(wait)
    raise AssertionError("unreachable")


def _connection_error(exc: BaseException | None) -> BaseException | None:
    """The refused or lost connection behind `exc` (pandas wraps them), else None."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError):
            return exc
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


def _first_line(exc: BaseException) -> str:
    original = getattr(exc, "orig", None) or exc
    text = str(original).strip().splitlines()
    return text[0] if text else type(original).__name__


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
            if not Path(database).exists():
                # Retrying cannot make a missing file appear: say so at once.
                raise FileNotFoundError(f"the SQLite database {database} does not exist")
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
