"""Loading CRM relations held as DataFrames into a database that meets the contract.

The demo CRM, the benchmark and the tests build their CRMs with it. Amounts may be numbers or
formatted text; PostgreSQL is loaded with COPY, anything else with batched executemany.
"""

import logging

import numpy as np
import pandas as pd
import sqlalchemy as sa

from segmentation.crm import RELATIONS, crm_metadata

log = logging.getLogger(__name__)

TIMEZONE = "America/Montreal"
_CHUNK = 200_000  # rows per COPY write or executemany batch
AMOUNT_COLUMNS = (("households", "net_worth"), ("members", "annual_income"),
                  ("members", "annual_savings"), ("holdings", "market_value"),
                  ("holdings", "annual_premium"))


def _pick(table, codes) -> pd.Series:
    """Strings of a small table by code; code -1 gives a missing value."""
    return pd.Series(pd.array(list(table), dtype="str").take(np.asarray(codes), allow_fill=True))


def write_crm(engine: sa.Engine, frames: dict[str, pd.DataFrame],
              amounts_as_text: bool = False) -> None:
    """Create the contract's tables (without primary keys: dirty ids repeat) and load `frames`.

    PostgreSQL under psycopg 3 is loaded with COPY, anything else with batched executemany.
    Amounts go in as given, text or number, on SQLite (whose NUMERIC columns keep text) and into
    text columns (`amounts_as_text=True`). Other databases' NUMERIC columns refuse text: there a
    formatted amount is stored as the number it spells, and one that spells no number ('',
    'n/a', '12,34,5') as NULL, so that dirt does not reach such a CRM.
    """
    metadata = crm_metadata(amounts_as_text, primary_keys=False)
    metadata.create_all(engine)
    with engine.begin() as conn:
        copy = conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg"
        numeric = conn.dialect.name != "sqlite" and not amounts_as_text
        for name in RELATIONS:
            values = {}
            for column in metadata.tables[name].columns:
                money = (name, column.name) in AMOUNT_COLUMNS
                values[column.name] = _column(frames[name][column.name], column.type,
                                              money=money, numeric=numeric, as_text=copy)
            if copy:
                _copy(conn, name, values)
            else:
                _executemany(conn, name, values)
            log.info("wrote %d rows to %s", len(frames[name]), name)


def _column(values: pd.Series, kind, *, money: bool, numeric: bool, as_text: bool) -> pd.Series:
    """One column as the database takes it: text for COPY, else Python values (None = NULL)."""
    if isinstance(kind, sa.DateTime):
        stamps = pd.DatetimeIndex(values)
        if stamps.tz is None:
            stamps = stamps.tz_localize(TIMEZONE)
        wall = stamps.tz_localize(None)
        minutes = (wall - stamps.tz_convert("UTC").tz_localize(None)).total_seconds() // 60
        distinct, codes = np.unique(minutes.fillna(0).to_numpy(np.int64), return_inverse=True)
        offsets = [f"{'-' if m < 0 else '+'}{abs(m) // 60:02d}:{abs(m) % 60:02d}" for m in distinct]
        text = pd.Series(np.datetime_as_string(wall.to_numpy("datetime64[s]")), dtype="str")
        out = (text + _pick(offsets, codes)).where(~np.asarray(stamps.isna()))
    elif isinstance(kind, sa.Date):
        days = pd.to_datetime(values).to_numpy("datetime64[D]")
        out = pd.Series(np.datetime_as_string(days)).where(~np.isnat(days))
    elif money:
        out = _amounts(values, numeric, as_text or not isinstance(kind, sa.Numeric))
    else:
        out = values.reset_index(drop=True).astype("str")
    if as_text:
        out = out.astype("str")
        if out.str.contains(r"[\\\t\n\r]", regex=True).any():
            for char, escaped in (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r")):
                out = out.str.replace(char, escaped, regex=False)
        return out.fillna("\\N")
    return pd.Series(out.to_numpy(dtype=object, na_value=None))


def _amounts(values: pd.Series, numeric: bool, as_text: bool) -> pd.Series:
    """Numbers to exact cents; text kept as written, or read as a number when `numeric`."""
    values = values.reset_index(drop=True)
    number = pd.to_numeric(values, errors="coerce").astype(float)
    written = values.notna() & number.isna()
    if numeric:
        text = values[written].astype("str").str.replace(r"[\s$\u00a0\u202f]", "", regex=True)
        english = text.str.contains(".", regex=False)
        text = text.where(english, text.str.replace(",", ".", regex=False))
        number[written] = pd.to_numeric(text.str.replace(",", "", regex=False), errors="coerce")
        written[:] = False
    if not as_text:
        out = number.astype(object).where(number.notna(), None)
    else:
        cents = np.round(number.fillna(0).to_numpy() * 100).astype(np.int64)
        whole, change = np.divmod(np.abs(cents), 100)
        out = (pd.Series(np.where(cents < 0, "-", "")) + pd.Series(whole).astype("str") + "."
               + pd.Series(change).astype("str").str.zfill(2)).where(number.notna())
    out = out.astype(object)
    out[written] = values[written]
    return out


def _copy(conn, name: str, values: dict[str, pd.Series]) -> None:
    columns = list(values)
    quote = conn.dialect.identifier_preparer.quote
    statement = f"COPY {quote(name)} ({', '.join(map(quote, columns))}) FROM STDIN"
    rows = len(values[columns[0]])
    with conn.connection.driver_connection.cursor() as cursor, cursor.copy(statement) as copy:
        for start in range(0, rows, _CHUNK):
            lines = values[columns[0]].iloc[start:start + _CHUNK]
            for column in columns[1:]:
                lines = lines + "\t" + values[column].iloc[start:start + _CHUNK]
            copy.write("\n".join(lines.tolist()) + "\n")


def _executemany(conn, name: str, values: dict[str, pd.Series]) -> None:
    # An untyped statement compiled once, then run by the driver on plain tuples: amounts pass
    # through as given, text or number, without a dictionary per row.
    table = sa.table(name, *(sa.column(c) for c in values))
    compiled = sa.insert(table).compile(dialect=conn.dialect)
    if not compiled.positional:  # a driver with named parameters takes one dictionary per row
        rows = pd.DataFrame(values).to_dict("records")
    else:
        rows = list(zip(*(values[c].tolist() for c in compiled.positiontup), strict=True))
    for start in range(0, len(rows), _CHUNK):
        conn.exec_driver_sql(str(compiled), rows[start:start + _CHUNK])
