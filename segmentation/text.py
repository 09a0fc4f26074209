"""Text normalisation shared by every lookup: case, accents, Unicode forms and punctuation."""

import re
import unicodedata

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

TEXT = pa.large_string()  # the Arrow type behind pandas' text columns
_NOT_WORD = re.compile(r"[^0-9a-z]+")


def normalize_text(value: str) -> str:
    """Fold case, strip accents (composed or decomposed), and reduce punctuation to spaces."""
    decomposed = unicodedata.normalize("NFKD", value)
    # Combining accents and invisible format characters (zero-width spaces, BOM) go.
    bare = "".join(ch for ch in decomposed
                   if not unicodedata.combining(ch) and unicodedata.category(ch) != "Cf")
    return _NOT_WORD.sub(" ", bare.casefold()).strip()


def map_distinct(values: pd.Series, function, dtype: str = "str") -> pd.Series:
    """`function` applied once per distinct present value, not once per row; missing stays
    missing. Columns repeat their values, so this is Python work on a handful of values."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    table = pd.array([function(u) for u in uniques], dtype=dtype)
    return pd.Series(table.take(codes, allow_fill=True), index=values.index, dtype=dtype)


def as_text(value) -> str:
    """A date, timestamp or number from a loose CRM column as the text it stands for."""
    return value if isinstance(value, str) else (
        value.isoformat() if hasattr(value, "isoformat") else str(value))


def normalize_series(values: pd.Series) -> pd.Series:
    """`normalize_text` over a column, computed once per distinct value; missing stays missing."""
    return map_distinct(values, lambda v: normalize_text(str(v)))


def text_column(values: pa.Array, index: pd.Index | None = None) -> pd.Series:
    """An Arrow text array as a pandas text column, without copying it."""
    return pd.Series(pd.array(values, dtype="str"), index=index)


def _factorize(values) -> tuple[np.ndarray, list]:
    """Codes (-1 for missing) and distinct values of a column, Arrow or pandas or NumPy."""
    if isinstance(values, pa.Array):
        encoded = pc.dictionary_encode(values)
        return (encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False),
                encoded.dictionary.to_pylist())
    codes, distinct = pd.factorize(values)
    return codes, list(distinct)


def per_distinct(function, *columns, kind: pa.DataType = TEXT) -> pa.Array:
    """`function(*values)` for each row, computed once per distinct combination of values
    (missing values come as None). The columns hold codes: a handful of combinations."""
    coded = [_factorize(c) for c in columns]
    key = np.zeros(len(coded[0][0]), dtype=np.int64)
    for codes, distinct in coded:
        key = key * (len(distinct) + 1) + codes + 1
    codes, keys = pd.factorize(key)
    results = []
    for k in keys:
        values = []
        for _, distinct in reversed(coded):
            k, at = divmod(int(k), len(distinct) + 1)
            values.append(distinct[at - 1] if at else None)
        results.append(function(*reversed(values)))
    return pa.array(results, kind).take(codes)
