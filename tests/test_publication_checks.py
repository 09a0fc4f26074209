"""The checks on the frames about to be published: one criteria row per household, tier and
characteristic, proven cheaply when the rows come in their usual order, in full otherwise."""

import datetime as dt

import pandas as pd

from schemas.warehouse import check_publication, one_row_per_fact

WEEK = dt.date(2026, 11, 30)


def _criteria(keys: list[tuple[str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame({
        "household_id": pd.array([k[0] for k in keys], dtype="str"),
        "as_of_date": WEEK,
        "tier": pd.array([k[1] for k in keys], dtype="str"),
        "characteristic": pd.array([k[2] for k in keys], dtype="str"),
        "figure": pd.array(["1.00"] * len(keys), dtype="str"),
        "threshold": pd.array(["2.00"] * len(keys), dtype="str"),
        "met": False,
        "partial": False,
    })


IN_ORDER = [("H2", "A", "aum_gt"), ("H2", "A", "referral"), ("H2", "B", "aum_gt"),
            ("H1", "C", "income_gt"), ("H3", "A", "aum_gt")]


def test_rows_in_their_usual_order_pass():
    assert one_row_per_fact(_criteria(IN_ORDER)).all()
    assert check_publication({"client_segment_criteria": _criteria(IN_ORDER)}) == []


def test_unique_rows_in_another_order_pass():
    shuffled = [IN_ORDER[i] for i in (4, 1, 3, 0, 2)]
    assert one_row_per_fact(_criteria(shuffled)).all()


def test_a_repeated_key_fails_on_both_rows_wherever_it_is():
    for keys in (IN_ORDER + [IN_ORDER[1]],            # a household seen again later
                 IN_ORDER[:2] + [IN_ORDER[1]] + IN_ORDER[2:]):  # twice in a row
        ok = one_row_per_fact(_criteria(keys))
        assert sorted(ok.index[~ok]) == sorted([1, keys.index(IN_ORDER[1], 2)])


def test_a_repeated_key_is_reported_once_per_row():
    problems = check_publication({"client_segment_criteria": _criteria(IN_ORDER + [IN_ORDER[0]])})
    assert problems == ["client_segment_criteria.rows: one_row_per_household_tier_characteristic"
                        " failed for 2 rows (e.g. H2, H2)"]


def test_a_missing_key_part_is_compared_in_full():
    keys = [("H1", "A", "aum_gt"), ("H1", "A", "aum_gt")]
    frame = _criteria(keys)
    frame.loc[0, "characteristic"] = pd.NA
    assert one_row_per_fact(frame).all()
    frame.loc[1, "characteristic"] = pd.NA
    assert not one_row_per_fact(frame).any()
