"""The warehouse tables BI reads, and the one transaction that publishes a week into them."""

import datetime as dt
import logging
import secrets
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from decimal import Decimal

import pandas as pd
import sqlalchemy as sa

log = logging.getLogger(__name__)

MONEY = sa.Numeric(14, 2)
# Ids and codes in keys compare byte by byte on PostgreSQL: the same order for ASCII ids, and
# indexes build several times faster than under a locale's rules.
KEY_TEXT = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")
# Memory for building a staged week's keys in one sort (a million households: ~9 M criteria).
INDEX_BUILD_MEMORY = "1GB"
metadata = sa.MetaData()


def _segment_columns() -> list[sa.Column]:
    return [
        sa.Column("household_id", KEY_TEXT, nullable=False),
        sa.Column("as_of_date", sa.Date, nullable=False),
        sa.Column("segment", sa.Text, nullable=False),
        sa.Column("tier", sa.Text, nullable=False),
        sa.Column("has_potential", sa.Boolean, nullable=False),
        sa.Column("potential_tier", sa.Text),
        sa.Column("computed_segment", sa.Text, nullable=False),
        sa.Column("override_reason", sa.Text),
        # Which section-6 signals showed the potential: advisor_tag, near_miss, ...
        sa.Column("potential_signals", sa.Text),
        sa.Column("household_type", sa.Text, nullable=False),
        sa.Column("aum", MONEY),
        sa.Column("insurance_premiums", MONEY),
        sa.Column("annual_savings", MONEY),
        sa.Column("annual_income", MONEY),
        sa.Column("net_worth", MONEY),
        sa.Column("value_score", sa.Float(53)),
        sa.Column("value_percentile", sa.Float(53)),
        sa.Column("value_rank", sa.Integer),
        *(sa.Column(f"criteria_met_{t}", sa.Integer, nullable=False) for t in "abcde"),
        sa.Column("flags", sa.Text, nullable=False),
        sa.Column("reasons", sa.Text, nullable=False),
        sa.Column("rules_version", sa.Text, nullable=False),
        sa.Column("run_id", sa.Text, nullable=False),
    ]


client_segments = sa.Table(
    "client_segments", metadata, *_segment_columns(),
    sa.PrimaryKeyConstraint("household_id", name="client_segments_pk"),
)
# On PostgreSQL the two large per-date tables hold one partition per as-of date: a week is
# loaded into a table of its own, indexed once loaded, and swapped in (see `publish`).
BY_DATE = {"postgresql_partition_by": "LIST (as_of_date)"}
client_segment_history = sa.Table(
    "client_segment_history", metadata, *_segment_columns(),
    sa.PrimaryKeyConstraint("as_of_date", "household_id", name="client_segment_history_pk"),
    **BY_DATE,
)
client_segment_criteria = sa.Table(
    "client_segment_criteria", metadata,
    sa.Column("household_id", KEY_TEXT, nullable=False),
    sa.Column("as_of_date", sa.Date, nullable=False),
    sa.Column("tier", KEY_TEXT, nullable=False),
    sa.Column("characteristic", KEY_TEXT, nullable=False),
    sa.Column("figure", sa.Text),
    sa.Column("threshold", sa.Text),
    sa.Column("met", sa.Boolean, nullable=False),
    sa.Column("partial", sa.Boolean, nullable=False),  # the figure is a lower bound
    # No key: one row per (as_of_date, household_id, tier, characteristic) is checked before
    # publishing, and BI looks facts up by household. On nine million rows a week, this index
    # builds in half the time of a four-column key.
    sa.Index("client_segment_criteria_household", "as_of_date", "household_id"),
    **BY_DATE,
)
# The key that warehouses first published by earlier versions have instead of the index.
OLD_CRITERIA_KEY = "client_segment_criteria_pk"
segment_distribution = sa.Table(
    "segment_distribution", metadata,
    sa.Column("as_of_date", sa.Date, nullable=False),
    sa.Column("tier", sa.Text, nullable=False),
    sa.Column("households", sa.Integer, nullable=False),
    sa.Column("share", sa.Float(53), nullable=False),
    sa.Column("target_min", sa.Float(53), nullable=False),
    sa.Column("target_max", sa.Float(53), nullable=False),
    sa.Column("within_target", sa.Boolean, nullable=False),
    sa.PrimaryKeyConstraint("as_of_date", "tier", name="segment_distribution_pk"),
)
data_quality_issues = sa.Table(
    "data_quality_issues", metadata,
    sa.Column("as_of_date", sa.Date, nullable=False),
    sa.Column("run_id", sa.Text, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("record_id", sa.Text),
    sa.Column("household_id", sa.Text),  # the household the record belongs to, when known
    sa.Column("column", sa.Text),
    sa.Column("check", sa.Text, nullable=False),
    sa.Column("value", sa.Text),
    sa.Column("severity", sa.Text, nullable=False),
    sa.Column("action", sa.Text, nullable=False),
)
data_quality_runs = sa.Table(
    "data_quality_runs", metadata,
    sa.Column("as_of_date", sa.Date, nullable=False),
    sa.Column("run_id", sa.Text, nullable=False),
    sa.Column("suite", sa.Text, nullable=False),
    sa.Column("check", sa.Text, nullable=False),
    sa.Column("passed", sa.Boolean, nullable=False),
    sa.Column("failed_records", sa.Integer, nullable=False),
    sa.Column("details", sa.Text),
)
segment_migrations = sa.Table(
    "segment_migrations", metadata,
    sa.Column("household_id", sa.Text, nullable=False),
    sa.Column("as_of_date", sa.Date, nullable=False),
    sa.Column("previous_as_of_date", sa.Date, nullable=False),
    sa.Column("previous_segment", sa.Text),
    sa.Column("new_segment", sa.Text),
    sa.Column("previous_tier", sa.Text),
    sa.Column("new_tier", sa.Text),
    sa.PrimaryKeyConstraint("as_of_date", "household_id", name="segment_migrations_pk"),
)
# Tables holding one as-of date's rows each, replaced date by date.
PER_DATE = (client_segment_history, client_segment_criteria, segment_distribution,
            segment_migrations, data_quality_issues, data_quality_runs)

# Views for BI: the current segments, and the last 52 published weeks of history.
VIEWS = {
    "v_client_segments_current": "SELECT * FROM {p}client_segments",
    "v_client_segment_history_52w": (
        "SELECT h.* FROM {p}client_segment_history h WHERE h.as_of_date IN ("
        "SELECT DISTINCT as_of_date FROM {p}client_segment_history "
        "ORDER BY as_of_date DESC LIMIT 52)"),
}


@dataclass
class Publication:
    """The frames of one week, keyed by warehouse table name."""

    as_of: dt.date
    frames: dict[str, pd.DataFrame]


def create_tables(conn: sa.Connection) -> None:
    """Create any missing warehouse table; existing ones, their views and grants are kept."""
    schema = _schema(conn)
    if schema and conn.dialect.name == "postgresql":
        conn.execute(sa.schema.CreateSchema(schema, if_not_exists=True))
    metadata.create_all(conn, checkfirst=True)
    _index_criteria_by_household(conn)
    existing = set(sa.inspect(conn).get_view_names(schema=schema))
    # The schema name was checked to be a plain identifier when it was read from the env.
    prefix = f'"{schema}".' if schema else ""
    for name, body in VIEWS.items():
        if name not in existing:
            conn.execute(sa.text(f"CREATE VIEW {prefix}{name} AS {body.format(p=prefix)}"))


def _index_criteria_by_household(conn: sa.Connection) -> None:
    """On a PostgreSQL warehouse from an earlier version: the criteria's key becomes the index.

    Once per warehouse, under the publication lock: every published week's index is built.
    """
    if conn.dialect.name != "postgresql":
        return
    table = client_segment_criteria
    keys = sa.inspect(conn).get_pk_constraint(table.name, schema=_schema(conn))
    if keys.get("name") != OLD_CRITERIA_KEY:
        return
    log.info("replacing the key of %s by an index on (as_of_date, household_id), once",
             table.name)
    conn.execute(sa.text(f"ALTER TABLE {_qualified(conn, table.name)} "
                         f'DROP CONSTRAINT "{OLD_CRITERIA_KEY}"'))
    for index in table.indexes:
        index.create(conn, checkfirst=True)


def _insert(conn: sa.Connection, table: sa.Table, frame: pd.DataFrame) -> int:
    """Append the frame's rows to the table inside the caller's transaction."""
    if frame.empty:
        return 0
    if conn.dialect.name == "postgresql":
        return _copy(conn, table, frame)
    conn.execute(sa.insert(table), _records(frame, table))
    return len(frame)


COPY_BATCH_ROWS = 100_000


def _copy(conn: sa.Connection, table: sa.Table, frame: pd.DataFrame, *,
          into: str | None = None, defaulted: tuple[str, ...] = ()) -> int:
    """PostgreSQL's COPY fed CSV that Arrow writes: the bulk path for large books.

    Arrow quotes every text value and leaves NULL unquoted and empty, which is how COPY's CSV
    tells a missing value from an empty string. `into` names a staging table shaped like
    `table`, created in this transaction, so the rows can be written frozen; the `defaulted`
    columns are left to its defaults.
    """
    import io

    import pyarrow as pa
    from psycopg import sql
    from pyarrow import csv

    columns = [c.name for c in table.columns
               if c.name in frame.columns and c.name not in defaulted]
    rows = pa.Table.from_pandas(frame[columns], preserve_index=False)
    options = csv.WriteOptions(include_header=False, quoting_style="needed")
    schema = _schema(conn)
    target = into or table.name
    name = sql.Identifier(schema, target) if schema else sql.Identifier(target)
    statement = sql.SQL("COPY {} ({}) FROM STDIN WITH ({})").format(
        name, sql.SQL(", ").join(sql.Identifier(c) for c in columns),
        sql.SQL("FORMAT csv, FREEZE" if into else "FORMAT csv"))
    cursor = conn.connection.driver_connection.cursor()
    with cursor.copy(statement) as copy:
        # In slices: a million rows' text never sits in memory twice over.
        for batch in rows.to_batches(max_chunksize=COPY_BATCH_ROWS):
            buffer = io.BytesIO()
            csv.write_csv(batch, buffer, write_options=options)
            copy.write(buffer.getbuffer())
    return len(frame)


def _schema(bind) -> str | None:
    """The warehouse schema set by `schema_translate_map`, if any."""
    return (bind.get_execution_options().get("schema_translate_map") or {}).get(None)


def _records(frame: pd.DataFrame, table: sa.Table) -> list[dict]:
    columns = [c.name for c in table.columns if c.name in frame.columns]
    clean = frame[columns].astype(object).where(frame[columns].notna(), None)
    for column in table.columns:
        if isinstance(column.type, sa.Numeric) and not isinstance(column.type, sa.Float):
            # Amounts travel as decimal text, so no float ever touches a cent.
            clean[column.name] = clean[column.name].map(Decimal, na_action="ignore")
    return clean.to_dict("records")


def _lock(conn: sa.Connection) -> None:
    """Serialise publications to one schema: two runs never interleave their writes there.

    Firms published to schemas of one database (see `pipelines.books`) do not wait on each
    other.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key, "
                             "hashtext(coalesce(:schema, current_schema())))"),
                     {"key": 7_340_021, "schema": _schema(conn)})


def latest_as_of(conn: sa.Connection) -> dt.date | None:
    value = conn.execute(sa.select(sa.func.max(client_segment_history.c.as_of_date))).scalar()
    if isinstance(value, str):
        value = dt.date.fromisoformat(value)
    return value


def publish(engine: sa.Engine, publication: Publication) -> dict[str, int]:
    """Replace the week's rows in every table, and the current segments, in one transaction.

    `client_segments` is replaced only when this week is the newest one published, so a
    backfill of an old week never hides the current tiers. On PostgreSQL the week's history
    and criteria are first loaded, in parallel, into staging tables that no reader sees; the
    transaction then swaps them in as the week's partitions.
    """
    as_of = publication.as_of
    with engine.begin() as conn:
        _lock(conn)
        create_tables(conn)  # under the lock: two first runs never race to create a table
        _drop_stale_stages(conn)
        staged = [t for t in STAGED if t.name in publication.frames and _partitioned(conn, t)]
    written: dict[str, int] = {}
    stages: dict[str, Future] = {}
    swapped = False
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="stage") as pool:
        for table in staged:
            stages[table.name] = pool.submit(_stage, engine, table,
                                             publication.frames[table.name], as_of)
        try:
            with engine.begin() as conn:
                _lock(conn)
                newest = latest_as_of(conn)
                for table in PER_DATE:
                    frame = publication.frames.get(table.name)
                    if frame is None or table.name in stages:
                        continue
                    conn.execute(sa.delete(table).where(table.c.as_of_date == as_of))
                    written[table.name] = _insert(conn, table, frame)
                if newest is None or as_of >= newest:
                    # DELETE, not TRUNCATE or DROP: readers keep the old rows until the commit,
                    # and the views and grants a BI team put on the table stay.
                    conn.execute(sa.delete(client_segments))
                    written["client_segments"] = _replace_current(conn, publication, stages)
                else:
                    log.info("kept client_segments of %s: %s is an older week", newest, as_of)
                for name, stage in stages.items():
                    _swap_in(conn, metadata.tables[name], as_of, stage.result())
                    written[name] = len(publication.frames[name])
            swapped = True
        finally:
            if not swapped:
                _drop_stages(engine, stages)
    for name, count in written.items():
        log.info("wrote %d rows to %s for %s", count, name, as_of)
    return written


def _replace_current(conn: sa.Connection, publication: Publication,
                     stages: dict[str, Future]) -> int:
    """Fill the emptied client_segments with the week's rows.

    When the week's history was staged from the same rows, the database copies them across
    itself instead of receiving them a second time.
    """
    frame = publication.frames["client_segments"]
    history = stages.get(client_segment_history.name)
    if history is None or frame is not publication.frames.get(client_segment_history.name):
        return _insert(conn, client_segments, frame)
    columns = ", ".join(f'"{c.name}"' for c in client_segments.columns)
    conn.execute(sa.text(
        f"INSERT INTO {_qualified(conn, client_segments.name)} ({columns}) "
        f"SELECT {columns} FROM {_qualified(conn, history.result())}"))
    return len(frame)


# The per-date tables loaded beside the live ones and swapped in, on PostgreSQL.
STAGED = (client_segment_history, client_segment_criteria)
STAGE_MARK = "__stage_"
STALE_STAGE = dt.timedelta(hours=6)


def _partitioned(conn: sa.Connection, table: sa.Table) -> bool:
    """Whether `table` is partitioned by date (warehouses created before 0.2 are not)."""
    if conn.dialect.name != "postgresql":
        return False
    return conn.execute(sa.text(
        "SELECT EXISTS (SELECT 1 FROM pg_partitioned_table p "
        "JOIN pg_class c ON c.oid = p.partrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relname = :name AND n.nspname = coalesce(:schema, current_schema()))"),
        {"name": table.name, "schema": _schema(conn)}).scalar()


def _qualified(conn: sa.Connection, name: str) -> str:
    # Names here are the module's own table names and generated suffixes, never user input.
    schema = _schema(conn)
    return f'"{schema}"."{name}"' if schema else f'"{name}"'


def _stage(engine: sa.Engine, table: sa.Table, frame: pd.DataFrame, as_of: dt.date) -> str:
    """Load the week's rows into a new table shaped like `table`, then index and check it.

    Building the key after the load is several times cheaper than growing it row by row, and
    the date check lets the swap attach the table as a partition without reading it again.
    The check is made on the empty table, so the load proves it row by row instead of a
    second pass over millions of rows.
    """
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S")
    name = f"{table.name}{STAGE_MARK}{stamp}_{secrets.token_hex(3)}"
    day = f"DATE '{as_of.isoformat()}'"
    with engine.begin() as conn:
        q = _qualified(conn, name)
        conn.execute(sa.text(f"SET LOCAL maintenance_work_mem = '{INDEX_BUILD_MEMORY}'"))
        conn.execute(sa.text(f"CREATE TABLE {q} (LIKE {_qualified(conn, table.name)})"))
        conn.execute(sa.text(f'ALTER TABLE {q} ADD CONSTRAINT "{name}_date" '
                             f"CHECK (as_of_date = {day})"))
        if not frame.empty:
            # Every row has the week's date: the server fills it in rather than parse it
            # millions of times over.
            conn.execute(sa.text(f"ALTER TABLE {q} ALTER COLUMN as_of_date SET DEFAULT {day}"))
            _copy(conn, table, frame, into=name, defaulted=("as_of_date",))
            conn.execute(sa.text(f"ALTER TABLE {q} ALTER COLUMN as_of_date DROP DEFAULT"))
        for statement in _indexing(table, name, q).values():
            conn.execute(sa.text(statement))
    return name


def _indexing(table: sa.Table, name: str, qualified: str) -> dict[str, str]:
    """The statements giving the staged table `name` the key or index of `table`, by the
    suffix of the index each makes (`_pk`, `_ix`), so the swap can rename it with the table.

    A staged table has a key, an index, or both; never two indexes.
    """
    def columns(cols) -> str:
        return ", ".join(f'"{c.name}"' for c in cols)

    statements = {}
    if table.primary_key.columns:
        statements["_pk"] = (f'ALTER TABLE {qualified} ADD CONSTRAINT "{name}_pk" '
                             f"PRIMARY KEY ({columns(table.primary_key.columns)})")
    for index in table.indexes:
        statements["_ix"] = f'CREATE INDEX "{name}_ix" ON {qualified} ({columns(index.columns)})'
    return statements


def _swap_in(conn: sa.Connection, table: sa.Table, as_of: dt.date, stage: str) -> None:
    """Make the staged table the week's partition, replacing the one published before."""
    final = f"{table.name}_{as_of:%Y%m%d}"
    conn.execute(sa.text(f"DROP TABLE IF EXISTS {_qualified(conn, final)}"))
    conn.execute(sa.text(f"ALTER TABLE {_qualified(conn, stage)} RENAME TO \"{final}\""))
    for suffix in _indexing(table, stage, _qualified(conn, stage)):
        conn.execute(sa.text(f"ALTER INDEX {_qualified(conn, stage + suffix)} "
                             f'RENAME TO "{final}{suffix}"'))
    conn.execute(sa.text(f'ALTER TABLE {_qualified(conn, final)} '
                         f'RENAME CONSTRAINT "{stage}_date" TO "{final}_date"'))
    conn.execute(sa.text(
        f"ALTER TABLE {_qualified(conn, table.name)} ATTACH PARTITION "
        f"{_qualified(conn, final)} FOR VALUES IN (DATE '{as_of.isoformat()}')"))


def _drop_stages(engine: sa.Engine, stages: dict[str, Future]) -> None:
    """After a failed publication: drop whatever staging tables were loaded."""
    wait(stages.values())
    names = [f.result() for f in stages.values() if f.exception() is None]
    if not names:
        return
    try:
        with engine.begin() as conn:
            for name in names:
                conn.execute(sa.text(f"DROP TABLE IF EXISTS {_qualified(conn, name)}"))
    except sa.exc.SQLAlchemyError as exc:  # the next publication drops them once stale
        log.warning("could not drop staging tables after a failed publication: %s",
                    type(exc).__name__)


def _drop_stale_stages(conn: sa.Connection) -> None:
    """Drop staging tables a killed run left behind (older than any run takes)."""
    if conn.dialect.name != "postgresql":
        return
    cutoff = dt.datetime.now(dt.UTC) - STALE_STAGE
    for name in sa.inspect(conn).get_table_names(schema=_schema(conn)):
        if STAGE_MARK not in name:
            continue
        stamp = name.split(STAGE_MARK)[1].split("_")[0]
        try:
            made = dt.datetime.strptime(stamp, "%Y%m%d%H%M%S").replace(tzinfo=dt.UTC)
        except ValueError:
            continue
        if made < cutoff:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {_qualified(conn, name)}"))
            log.info("dropped the stale staging table %s", name)


def previous_tiers(engine: sa.Engine, as_of: dt.date) -> pd.Series:
    """Each household's tier in the last week published before `as_of` (empty when none)."""
    h = client_segment_history
    if not sa.inspect(engine).has_table(h.name, schema=_schema(engine)):
        return pd.Series(dtype="str")
    latest = (sa.select(h.c.household_id, sa.func.max(h.c.as_of_date).label("as_of_date"))
              .where(h.c.as_of_date < as_of).group_by(h.c.household_id).subquery())
    query = sa.select(h.c.household_id, h.c.tier).join(
        latest, sa.and_(h.c.household_id == latest.c.household_id,
                        h.c.as_of_date == latest.c.as_of_date))
    with engine.connect() as conn:
        frame = pd.read_sql(query, conn)
    return frame.set_index("household_id")["tier"].astype("str")


def published_household(engine: sa.Engine, household_id: str,
                        as_of: dt.date | None = None) -> tuple[dict, pd.DataFrame] | None:
    """One household's published row and criteria for a week (default: its latest week)."""
    h, c = client_segment_history, client_segment_criteria
    query = sa.select(h).where(h.c.household_id == household_id)
    query = query.where(h.c.as_of_date == as_of) if as_of else query
    query = query.order_by(h.c.as_of_date.desc()).limit(1)
    with engine.connect() as conn:
        row = conn.execute(query).mappings().first()
        if row is None:
            return None
        criteria = pd.read_sql(sa.select(c).where(c.c.household_id == household_id,
                                                  c.c.as_of_date == row["as_of_date"])
                               .order_by(c.c.tier, c.c.characteristic), conn)
    return dict(row), criteria


def previous_week(engine: sa.Engine, as_of: dt.date) -> tuple[dt.date | None, pd.DataFrame]:
    """The last week published before `as_of`, and its households' segments and tiers."""
    h = client_segment_history
    empty = pd.DataFrame({"household_id": [], "segment": [], "tier": []}, dtype="str")
    if not sa.inspect(engine).has_table(h.name, schema=_schema(engine)):
        return None, empty
    with engine.connect() as conn:
        last = conn.execute(sa.select(sa.func.max(h.c.as_of_date))
                            .where(h.c.as_of_date < as_of)).scalar()
        if last is None:
            return None, empty
        last = dt.date.fromisoformat(last) if isinstance(last, str) else last
        frame = pd.read_sql(sa.select(h.c.household_id, h.c.segment, h.c.tier)
                            .where(h.c.as_of_date == last), conn)
    return last, frame


def current_as_of(engine: sa.Engine) -> dt.date | None:
    """The week the current segments belong to (None before the first publication)."""
    if not sa.inspect(engine).has_table(client_segments.name, schema=_schema(engine)):
        return None
    with engine.connect() as conn:
        value = conn.execute(sa.select(sa.func.max(client_segments.c.as_of_date))).scalar()
    return dt.date.fromisoformat(value) if isinstance(value, str) else value


def published_weeks(engine: sa.Engine) -> list[str]:
    """Every week in the history, oldest first, as YYYY-MM-DD."""
    h = client_segment_history
    if not sa.inspect(engine).has_table(h.name, schema=_schema(engine)):
        return []
    with engine.connect() as conn:
        rows = conn.execute(sa.select(h.c.as_of_date).distinct().order_by(h.c.as_of_date))
        return [str(r[0]) for r in rows]
