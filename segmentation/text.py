"""Text normalisation shared by every lookup: case, accents, Unicode forms and punctuation."""

import re
import unicodedata

import pandas as pd

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
