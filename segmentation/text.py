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


def normalize_series(values: pd.Series) -> pd.Series:
    """`normalize_text` over a column, computed once per distinct value; missing stays missing."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    if len(uniques) == 0:
        return pd.Series(pd.NA, index=values.index, dtype="str")
    table = pd.array([normalize_text(str(u)) for u in uniques], dtype="str")
    out = pd.Series(table.take(codes, allow_fill=True), index=values.index, dtype="str")
    return out
