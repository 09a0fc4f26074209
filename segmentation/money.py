"""Amounts as exact integer cents, from CRM numbers or French/English formatted text."""

import numpy as np
import pandas as pd

# After spaces, currency signs and a sign are stripped, a number is one of these shapes.
_FRENCH = r"^(?:\d{1,3}(?:\.\d{3})+|\d+)(?:,\d{1,2})?$"  # 1234567,89 or 1.234.567,89
_ENGLISH = r"^(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d{1,2})?$"  # 1,234,567.89 or 1234567.89
_SPACES = r"[\s\u00a0\u202f\u2009]"


def to_cents(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Parse amounts to nullable int64 cents; also return a mask of values that could not be read.

    Missing values and empty strings are unknown (NA), not errors.
    """
    cents = pd.Series(pd.NA, index=values.index, dtype="Int64")
    unreadable = pd.Series(False, index=values.index)
    if values.empty:
        return cents, unreadable
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values):
        return _from_numbers(values.astype("float64")), unreadable

    numbers = pd.to_numeric(values, errors="coerce")
    if values.dtype == object:
        is_text = values.map(lambda v: isinstance(v, str), na_action="ignore").fillna(False)
    else:  # a text column: every present value is text
        is_text = values.notna()
    # Strings like "1234.5" parse as numbers too; only formatted text needs the text path.
    text = values[is_text.astype(bool) & numbers.isna()].astype("str")
    parsed, bad = _from_text(text)
    cents.loc[numbers.notna()] = _from_numbers(numbers[numbers.notna()])
    cents.loc[parsed.index] = parsed
    unreadable.loc[bad[bad].index] = True
    return cents, unreadable


def _from_numbers(numbers: pd.Series) -> pd.Series:
    # NUMERIC(14,2) values are exact in float64 to well below half a cent: rounding recovers them.
    rounded = np.round(numbers.to_numpy(dtype="float64", na_value=np.nan) * 100)
    out = pd.array(rounded, dtype="Float64").round().astype("Int64")
    return pd.Series(out, index=numbers.index)


def _from_text(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    s = text.str.replace(_SPACES, "", regex=True).str.replace(r"(?i)\$|CAD", "", regex=True)
    empty = s == ""
    negative = s.str.match(r"^\(.*\)$|^-|-$")
    s = s.str.strip("()-+")
    french = s.str.match(_FRENCH)
    english = s.str.match(_ENGLISH) & ~french
    # "1,234" could be either; a comma followed by three digits is read as thousands.
    ambiguous_thousands = french & s.str.match(r"^\d{1,3},\d{3}$")
    french &= ~ambiguous_thousands
    english |= ambiguous_thousands
    plain = pd.Series(pd.NA, index=s.index, dtype="str")
    plain[french] = s[french].str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    plain[english] = s[english].str.replace(",", "", regex=False)
    numbers = pd.to_numeric(plain, errors="coerce")
    numbers[negative.fillna(False)] *= -1
    cents = _from_numbers(numbers)
    bad = ~(french | english | empty)
    return cents, bad


def cents_to_decimal_text(cents: pd.Series) -> pd.Series:
    """Cents as plain decimal text with two places (`'1234.50'`), NA kept."""
    present = cents.notna().to_numpy()
    value = cents.fillna(0).to_numpy(dtype="int64")
    whole, frac = np.divmod(np.abs(value), 100)
    sign = np.where(value < 0, "-", "")
    text = (sign + pd.Series(whole, dtype="int64").astype("str") + "."
            + pd.Series(frac, dtype="int64").astype("str").str.zfill(2))
    return pd.Series(text.to_numpy(), index=cents.index, dtype="str").where(present)
