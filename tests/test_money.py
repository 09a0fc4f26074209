"""Amounts from every notation a CRM may hold, to exact cents, or reported as unreadable."""

import numpy as np
import pandas as pd
import pytest

from segmentation.money import decimal_text, to_cents

READ = {
    "1\u00a0234\u00a0567,89 $": 123456789, "1\u202f234\u202f567,89 $": 123456789,
    "1 234 567,89 $": 123456789, "1,234,567.89": 123456789, "$1234567.89": 123456789,
    "1.234.567,89": 123456789, "1 234": 123400, "1,234": 123400, "1.234": 123400,
    "12,5 CAD": 1250, "-500": -50000, "(12.50)": -1250, "5 000-": -500000, "-0": 0,
    "47348.66": 4734866, "\uff11\uff12\uff13\uff14": 123400, "250000.00": 25000000,
}
UNREADABLE = ["n/a", "12,34,5", "inf", "-Infinity", "NaN", "1e400", "12e3", "1.2345",
              "\u0661\u0662\u0663", "douze"]


@pytest.mark.parametrize("text, cents", sorted(READ.items()))
def test_read(text, cents):
    values, bad, huge = to_cents(pd.Series([text], dtype=object))
    assert (values.iloc[0], bad.iloc[0], huge.iloc[0]) == (cents, False, False)


@pytest.mark.parametrize("text", UNREADABLE)
def test_unreadable(text):
    values, bad, _ = to_cents(pd.Series([text], dtype="str"))
    assert pd.isna(values.iloc[0]) and bad.iloc[0]


@pytest.mark.parametrize("value", ["", "   ", None])
def test_empty_is_unknown_not_an_error(value):
    values, bad, huge = to_cents(pd.Series([value], dtype=object))
    assert pd.isna(values.iloc[0]) and not bad.iloc[0] and not huge.iloc[0]


def test_numbers_and_huge_values():
    values, bad, huge = to_cents(pd.Series([47348.66, float("inf"), None, 1e17]))
    assert values.iloc[0] == 4734866
    assert list(bad) == [False, True, False, False]
    assert list(huge) == [False, False, False, True]


def test_sum_of_accounts_is_exact():
    parts = ["47348.66", "35124.88", "44942.98", "33031.89", "89551.59"]
    assert to_cents(pd.Series(parts, dtype="str"))[0].sum() == 25000000


def test_decimal_text_round_trip():
    cents = np.array([123450, -5, 7, 0])
    known = np.array([True, True, False, True])
    assert decimal_text(cents, known).to_pylist() == ["1234.50", "-0.05", None, "0.00"]
