"""The CRM contract: the relations the job reads, how to create them, and how to read them."""

import logging
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa

log = logging.getLogger(__name__)

# Columns the job reads, per relation. Names, e-mails and birth dates are never read.
REQUIRED = {
    "households": ["household_id", "household_type", "status", "relationship",
                   "referred_by_household_id", "net_worth"],
    "members": ["member_id", "household_id", "occupation", "business_since", "annual_income",
                "annual_savings"],
    "holdings": ["holding_id", "household_id", "kind", "status", "market_value",
                 "annual_premium"],
    "activities": ["activity_id", "household_id", "kind", "occurred_at", "outcome"],
    "household_tags": ["household_id", "tag"],
    "segment_overrides": ["household_id", "tier", "reason", "expires_on"],
}
OPTIONAL = {"households": ["advisor_id", "client_since"], "segment_overrides": ["set_by"]}
RELATIONS = tuple(REQUIRED)


class CrmContractError(RuntimeError):
    """The CRM lacks a relation or a column the job needs: the run cannot be trusted."""


@dataclass(frozen=True)
class CrmExtract:
    """The CRM relations as read, untouched: one DataFrame per relation."""

    households: pd.DataFrame
    members: pd.DataFrame
    holdings: pd.DataFrame
    activities: pd.DataFrame
    household_tags: pd.DataFrame
    segment_overrides: pd.DataFrame

    def row_counts(self) -> dict[str, int]:
        return {name: len(getattr(self, name)) for name in RELATIONS}


def check_contract(conn, schema: str | None = None) -> dict[str, list[str]]:
    """Return the columns to read per relation, or raise naming every missing piece."""
    return _contract(conn, schema)[0]


def _contract(conn, schema: str | None) -> tuple[dict[str, list[str]], dict[str, set[str]]]:
    """The columns to read per relation, and those of them that are instants with a zone
    (TIMESTAMP WITH TIME ZONE), from one look at the catalogue."""
    inspector = sa.inspect(conn)
    names = set(inspector.get_table_names(schema=schema)) | set(
        inspector.get_view_names(schema=schema))
    problems, columns, zoned = [], {}, {}
    for relation, required in REQUIRED.items():
        if relation not in names:
            problems.append(f"relation {relation!r} is missing")
            continue
        types = {c["name"].lower(): c["type"]
                 for c in inspector.get_columns(relation, schema=schema)}
        missing = [c for c in required if c not in types]
        if missing:
            problems.append(f"relation {relation!r} lacks column(s) {', '.join(missing)}")
        columns[relation] = required + [c for c in OPTIONAL.get(relation, []) if c in types]
        zoned[relation] = {c for c in columns[relation] if c in types
                           and isinstance(types[c], sa.DateTime) and types[c].timezone}
    if problems:
        raise CrmContractError("the CRM does not meet its contract: " + "; ".join(problems))
    return columns, zoned


def read_crm(engine: sa.Engine, schema: str | None = None) -> CrmExtract:
    """Read every relation of the contract, only the columns the rules use, from one snapshot."""
    if engine.dialect.name == "postgresql":
        return _read_postgresql(engine, schema)
    frames = {}
    with engine.connect() as conn, conn.begin():
        columns = check_contract(conn, schema)
        for relation, cols in columns.items():
            table = sa.table(relation, *(sa.column(c) for c in cols), schema=schema)
            frames[relation] = pd.read_sql(sa.select(table), conn)
            log.info("read %d rows from CRM relation %s", len(frames[relation]), relation)
    return CrmExtract(**frames)


# Two connections share the reading, each taking about half of a book's rows.
_LANES = (("activities", "household_tags", "segment_overrides"),
          ("households", "members", "holdings"))
_SNAPSHOT_ID = re.compile(r"^[0-9A-F]+-[0-9A-F]+-[0-9]+$")


def _read_postgresql(engine: sa.Engine, schema: str | None) -> CrmExtract:
    """Read every relation out of one REPEATABLE READ snapshot, on two connections at once.

    The SQLAlchemy connection checks the contract and exports its snapshot; two ADBC
    connections adopt it, as pg_dump's parallel workers do, and fetch the relations as Arrow
    (binary COPY decoded in C++, outside the GIL), so the server and the client use both cores
    and every relation is seen as of the same instant.
    """
    options = {"isolation_level": "REPEATABLE READ"}
    with engine.connect().execution_options(**options) as conn, conn.begin():
        columns, zoned = _contract(conn, schema)
        snapshot = conn.execute(sa.text("SELECT pg_export_snapshot()")).scalar()
        if not _SNAPSHOT_ID.match(snapshot):  # inlined below: SET takes no bound parameter
            raise ValueError("unexpected snapshot id from the CRM server")
        driver = conn.connection.driver_connection
        queries = {r: _select(driver, r, c, zoned[r], schema)
                   for r, c in columns.items()}
        uri = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        with ThreadPoolExecutor(max_workers=len(_LANES), thread_name_prefix="crm-read") as pool:
            lanes = [pool.submit(_read_lane, uri, snapshot, {r: queries[r] for r in lane})
                     for lane in _LANES]
            frames = {r: f for lane in lanes for r, f in lane.result().items()}
    for relation, frame in frames.items():
        log.info("read %d rows from CRM relation %s", len(frame), relation)
    return CrmExtract(**frames)


def _select(driver, relation: str, columns: list[str], zoned: set[str],
            schema: str | None) -> str:
    """The query for one relation: every column as PostgreSQL prints it, NULL kept apart from
    '', except instants with a zone, which arrive as instants.

    Reading amounts as their exact text leaves the conversion to cents to one place.
    """
    from psycopg import sql

    name = sql.Identifier(schema, relation) if schema else sql.Identifier(relation)
    items = [sql.Identifier(c) if c in zoned else
             sql.SQL("{}::text AS {}").format(sql.Identifier(c), sql.Identifier(c))
             for c in columns]
    return sql.SQL("SELECT {} FROM {}").format(sql.SQL(", ").join(items), name).as_string(driver)


def _read_lane(uri: str, snapshot: str, queries: dict[str, str]) -> dict[str, pd.DataFrame]:
    """Fetch `queries` on an ADBC connection inside the exported snapshot, read only."""
    import adbc_driver_manager
    import adbc_driver_postgresql.dbapi as adbc

    try:
        connection = adbc.connect(uri, autocommit=True)
    except adbc_driver_manager.OperationalError as exc:  # retried like any lost connection
        raise sa.exc.OperationalError("connect", None, exc) from None
    with connection, connection.cursor() as cursor:
        cursor.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        cursor.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
        frames = {}
        for relation, query in queries.items():
            cursor.execute(query)
            frames[relation] = _to_pandas(cursor.fetch_arrow_table())
        cursor.execute("COMMIT")
    return frames


def _to_pandas(table) -> pd.DataFrame:
    import numpy as np
    import pyarrow as pa

    text = pd.StringDtype("pyarrow", na_value=np.nan)
    return table.to_pandas(types_mapper=lambda t: text if pa.types.is_string(t)
                           or pa.types.is_large_string(t) else None)


# DDL for building a CRM that meets the contract: the demo CRM and the tests use it.
def crm_metadata(amounts_as_text: bool = False, primary_keys: bool = True) -> sa.MetaData:
    money = sa.Text if amounts_as_text else sa.Numeric(14, 2)
    md = sa.MetaData()
    sa.Table(
        "households", md,
        sa.Column("household_id", sa.Text, primary_key=primary_keys),
        sa.Column("household_type", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("advisor_id", sa.Text),
        sa.Column("relationship", sa.Text),
        sa.Column("referred_by_household_id", sa.Text),
        sa.Column("net_worth", money),
        sa.Column("client_since", sa.Date),
    )
    sa.Table(
        "members", md,
        sa.Column("member_id", sa.Text, primary_key=primary_keys),
        sa.Column("household_id", sa.Text, nullable=False),
        sa.Column("first_name", sa.Text),
        sa.Column("last_name", sa.Text),
        sa.Column("birth_date", sa.Date),
        sa.Column("email", sa.Text),
        sa.Column("occupation", sa.Text),
        sa.Column("business_since", sa.Date),
        sa.Column("annual_income", money),
        sa.Column("annual_savings", money),
    )
    sa.Table(
        "holdings", md,
        sa.Column("holding_id", sa.Text, primary_key=primary_keys),
        sa.Column("household_id", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("market_value", money),
        sa.Column("annual_premium", sa.Text if amounts_as_text else sa.Numeric(12, 2)),
    )
    sa.Table(
        "activities", md,
        sa.Column("activity_id", sa.Text, primary_key=primary_keys),
        sa.Column("household_id", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.Text, nullable=False),
    )
    sa.Table(
        "household_tags", md,
        sa.Column("household_id", sa.Text, nullable=False),
        sa.Column("tag", sa.Text, nullable=False),
    )
    sa.Table(
        "segment_overrides", md,
        sa.Column("household_id", sa.Text, nullable=False),
        sa.Column("tier", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("set_by", sa.Text),
        sa.Column("expires_on", sa.Date),
    )
    return md


def create_crm(engine: sa.Engine, rows: dict[str, list[dict]], *, amounts_as_text=False,
               primary_keys=True) -> None:
    """Create the contract's relations in an empty database and insert `rows` into them.

    Dirty CRMs hold duplicate ids; `primary_keys=False` builds tables that accept them.
    """
    md = crm_metadata(amounts_as_text, primary_keys)
    md.create_all(engine)
    with engine.begin() as conn:
        for relation, records in rows.items():
            if records:
                columns = md.tables[relation].columns.keys()
                full = [{c: r.get(c) for c in columns} for r in records]
                # Untyped statement: amounts pass through as given, text or number.
                plain = sa.table(relation, *(sa.column(c) for c in columns))
                conn.execute(sa.insert(plain), full)
