"""Amounts as exact integer cents, from CRM numbers or French/English formatted text."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from segmentation.text import TEXT, map_distinct

# After spaces, currency signs and a sign are stripped, a number is one of these shapes.
# [0-9], not \d: other scripts' digits are not amounts.
_FRENCH = r"^(?:[0-9]{1,3}(?:\.[0-9]{3})+|[0-9]+)(?:,[0-9]{1,2})?$"  # 1234567,89 or 1.234.567,89
_ENGLISH = r"^(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]{1,2})?$"  # 1,234,567.89 or 1234567.89
_SPACES = r"[\s\u00a0\u202f\u2009]"


_HUNDREDTHS = pa.array([f".{c:02d}" for c in range(100)], TEXT)

# What a database prints for a NUMERIC: read directly, without the formatted-text rules.
_PLAIN = r"^-?[0-9]+(?:\.[0-9]{1,2})?$"
# Beyond this many dollars a value cannot be a NUMERIC(14,2), nor fit in int64 cents safely.
_LARGEST = 1e13


def to_cents(values: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Parse amounts to nullable int64 cents.

    Returns the cents, a mask of values that could not be read (text in no known notation,
    infinities, "NaN" written out) and a mask of values too large to be an amount. Missing
    values and empty strings are unknown (NA), not errors.
    """
    floats = pd.Series(np.nan, index=values.index, dtype="float64")
    unreadable = pd.Series(False, index=values.index)
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values):
        floats = values.astype("float64")
    elif _all_plain(values):  # a NUMERIC column read as text: Arrow parses it in one pass
        numbers = pc.cast(pa.array(values.array), pa.float64())
        floats = pd.Series(numbers.to_numpy(zero_copy_only=False), index=values.index)
    elif not values.empty:
        is_text = map_distinct(values, lambda v: isinstance(v, str), "boolean").fillna(False) \
            if values.dtype == object else values.notna()
        is_text = is_text.astype(bool)
        others = values[~is_text & values.notna()]
        floats[others.index] = pd.to_numeric(others, errors="coerce")
        unreadable[others.index] = floats[others.index].isna()
        text = values[is_text].astype("str").str.strip()
        plain = text.str.match(_PLAIN).fillna(False).astype(bool)
        floats[plain[plain].index] = text[plain].astype("float64")
        formatted, bad = _from_text(text[~plain])
        floats[formatted.index] = formatted
        unreadable[bad[bad].index] = True
    infinite = np.isinf(floats)
    unreadable |= infinite
    huge = (floats.abs() >= _LARGEST) & ~infinite
    usable = floats.where(~(infinite | huge))
    return _from_numbers(usable), unreadable, huge


def _all_plain(values: pd.Series) -> bool:
    """Whether every present value is Arrow text written as a database prints a NUMERIC."""
    if not (isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow"):
        return False
    verdict = pc.all(pc.match_substring_regex(pa.array(values.array), _PLAIN)).as_py()
    return verdict is not False


def _from_numbers(numbers: pd.Series) -> pd.Series:
    # NUMERIC(14,2) values are exact in float64 to well below half a cent: rounding recovers them.
    rounded = np.round(numbers.to_numpy(dtype="float64", na_value=np.nan) * 100)
    out = pd.array(rounded, dtype="Float64").round().astype("Int64")
    return pd.Series(out, index=numbers.index)


def _from_text(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Dollars (float) from French or English notation; and a mask of what cannot be read."""
    s = text.str.normalize("NFKC")  # full-width digits and the various spaces become plain
    s = s.str.replace(_SPACES, "", regex=True).str.replace(r"(?i)\$|CAD", "", regex=True)
    empty = s == ""
    negative = s.str.contains(r"^\(.*\)$|^-|-$", regex=True)
    s = s.str.strip("()-+")
    french = s.str.match(_FRENCH)
    english = s.str.match(_ENGLISH) & ~french
    plain = pd.Series(pd.NA, index=s.index, dtype="str")
    plain[french] = s[french].str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    plain[english] = s[english].str.replace(",", "", regex=False)
    numbers = pd.to_numeric(plain, errors="coerce")
    numbers[negative.fillna(False).astype(bool)] *= -1
    bad = ~(french | english | empty)
    return numbers, bad.fillna(True).astype(bool)


def decimal_text(cents: np.ndarray, known: np.ndarray | None = None) -> pa.Array:
    """Cents as plain decimal text with two places (`'1234.50'`); missing where not known."""
    whole, hundredths = np.divmod(np.abs(cents), 100)
    whole = pc.cast(pa.array(whole, mask=None if known is None else ~known), TEXT)
    sign = pa.array(["", "-"], TEXT).take((cents < 0).astype(np.int8))
    return pc.binary_join_element_wise(sign, whole, _HUNDREDTHS.take(hundredths),
                                       pa.scalar("", TEXT))
