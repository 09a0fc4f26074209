"""Dirty CRM data through the weekly job: reported row by row, quarantined or used, never lost;
a run that cannot be trusted fails and leaves the warehouse as it was."""

import hashlib

import pandas as pd
import pytest
import sqlalchemy as sa
from casebook import crm_rows

from segmentation.validation import _ids

WEEK = "2026-11-30"
CLEAN = [
    {"id": "OK1", "type": "individual", "members": [{"income": 80000}],
     "holdings": [{"kind": "investment", "value": 120000}]},
    {"id": "OK2", "type": "couple", "members": [{"income": 90000}, {"income": 70000}]},
]


def _rows(extra: list[dict] | None = None, patch=None):
    rows = crm_rows(CLEAN + (extra or []))
    if patch:
        patch(rows)
    return rows


def _household(rows, hid):
    return next(r for r in rows["households"] if r["household_id"] == hid)


def _member(rows, hid):
    return next(r for r in rows["members"] if r["household_id"] == hid)


def _p(extra=None, patch=None):
    return {"extra": extra or [], "patch": patch}


# name -> (how to dirty the CRM, expected issue (source, record, column, check, severity),
#          households expected in client_segments)
DIRTY = {
    "french amount with no-break spaces": (
        _p([{"id": "X", "type": "individual", "net_worth": "1\u00a0200\u00a0000,00\u00a0$",
             "members": [{"income": "155\u202f000,00 $"}]}]),
        None, {"OK1", "OK2", "X"}),
    "english amounts": (
        _p([{"id": "X", "type": "individual", "net_worth": "$1,200,000.00",
             "members": [{"income": "155,000.00"}]}]),
        None, {"OK1", "OK2", "X"}),
    "negative income": (
        _p([{"id": "X", "type": "individual", "members": [{"income": "-5000"}]}]),
        ("members", "X-M1", "annual_income", "not_negative", "warning"), {"OK1", "OK2", "X"}),
    "absurd net worth": (
        _p([{"id": "X", "type": "individual", "net_worth": 5_000_000_000}]),
        ("households", "X", "net_worth", "amount_at_most_1000000000", "warning"),
        {"OK1", "OK2", "X"}),
    "unreadable amount": (
        _p([{"id": "X", "type": "individual",
             "holdings": [{"kind": "investment", "value": "douze mille"}]}]),
        ("holdings", "X-P1", "market_value", "amount_readable", "error"), {"OK1", "OK2"}),
    "empty string amount is unknown": (
        _p([{"id": "X", "type": "individual", "net_worth": ""}]), None, {"OK1", "OK2", "X"}),
    "other spellings": (
        _p([{"id": "X", "type": "INDIVIDUEL", "relationship": "ami proche"},
            {"id": "Y", "type": "Couple", "relationship": "famille"}]),
        None, {"OK1", "OK2", "X", "Y"}),
    "unknown household type": (
        _p([{"id": "X", "type": "trio"}]),
        ("households", "X", "household_type", "known_code", "error"), {"OK1", "OK2"}),
    "unknown relationship": (
        _p([{"id": "X", "type": "individual", "relationship": "voisin"}]),
        ("households", "X", "relationship", "known_code", "warning"), {"OK1", "OK2", "X"}),
    "decomposed unicode": (
        _p([{"id": "X", "type": "individual",
             "members": [{"occupation": "Infirmie\u0300re", "income": 80000}],
             "holdings": [{"kind": "investment", "value": 120000}]}]),
        None, {"OK1", "OK2", "X"}),
    "couple with one member": (
        _p([{"id": "X", "type": "couple"}], patch=lambda r: r["members"].remove(
            next(m for m in r["members"] if m["member_id"] == "X-M2"))),
        ("households", "X", "household_type", "member_count_matches_type", "warning"),
        {"OK1", "OK2", "X"}),
    "individual with two members": (
        _p([{"id": "X", "type": "individual", "members": [{}, {}]}]),
        ("households", "X", "household_type", "member_count_matches_type", "warning"),
        {"OK1", "OK2", "X"}),
    "orphan member": (
        _p(patch=lambda r: r["members"].append({"member_id": "GHOST-M1",
                                                "household_id": "GHOST"})),
        ("members", "GHOST-M1", "household_id", "household_exists", "warning"), {"OK1", "OK2"}),
    "orphan holding": (
        _p(patch=lambda r: r["holdings"].append({"holding_id": "GHOST-P1", "kind": "investment",
                                                 "household_id": "GHOST", "status": "open",
                                                 "market_value": 10})),
        ("holdings", "GHOST-P1", "household_id", "household_exists", "warning"), {"OK1", "OK2"}),
    "duplicate household id": (
        _p(patch=lambda r: r["households"].append(dict(_household(r, "OK2")))),
        ("households", "OK2", "household_id", "unique_id", "error"), {"OK1"}),
    "duplicate holding id": (
        _p([{"id": "X", "type": "individual",
             "holdings": [{"kind": "investment", "value": 1}]}],
           patch=lambda r: r["holdings"].append(dict(r["holdings"][-1]))),
        ("holdings", "X-P1", "holding_id", "unique_id", "error"), {"OK1", "OK2"}),
    "referrer that is not a household": (
        _p([{"id": "X", "type": "individual", "relationship": "referral",
             "referred_by": "NOBODY"}]),
        ("households", "X", "referred_by_household_id", "referrer_exists", "warning"),
        {"OK1", "OK2", "X"}),
    "self-referral": (
        _p([{"id": "X", "type": "individual", "relationship": "referral", "referred_by": "X"}]),
        ("households", "X", "referred_by_household_id", "not_self_referral", "warning"),
        {"OK1", "OK2", "X"}),
    "unmapped tag": (
        _p([{"id": "X", "type": "individual", "tags": ["VIP golf"]}]),
        ("household_tags", "X", "tag", "known_code", "warning"), {"OK1", "OK2", "X"}),
    "unmapped occupation": (
        _p([{"id": "X", "type": "individual", "members": [{"occupation": "Astronaute"}]}]),
        ("members", "X-M1", "occupation", "occupation_mapped", "warning"), {"OK1", "OK2", "X"}),
    "override for an unknown household": (
        _p(patch=lambda r: r["segment_overrides"].append(
            {"household_id": "NOBODY", "tier": "A", "reason": "x"})),
        ("segment_overrides", "NOBODY", "household_id", "household_exists", "warning"),
        {"OK1", "OK2"}),
    "expired override": (
        _p([{"id": "X", "type": "individual",
             "override": {"tier": "A", "reason": "x", "expires_on": "2026-01-01"}}]),
        ("segment_overrides", "X", "expires_on", "override_not_expired", "warning"),
        {"OK1", "OK2", "X"}),
    "override with an unknown tier": (
        _p([{"id": "X", "type": "individual", "override": {"tier": "Z", "reason": "x"}}]),
        ("segment_overrides", "X", "tier", "known_code", "warning"), {"OK1", "OK2", "X"}),
    "infinite net worth": (
        _p([{"id": "X", "type": "individual", "net_worth": "inf"}]),
        ("households", "X", "net_worth", "amount_readable", "error"), {"OK1", "OK2"}),
    "net worth too large for an amount": (
        _p([{"id": "X", "type": "couple", "net_worth": "9" * 30}]),
        ("households", "X", "net_worth", "amount_at_most_1000000000", "warning"),
        {"OK1", "OK2", "X"}),
    "override with an unreadable expiry": (
        _p([{"id": "X", "type": "individual",
             "override": {"tier": "A", "reason": "x", "expires_on": "30/12/2026"}}]),
        ("segment_overrides", "X", "expires_on", "iso_date", "warning"), {"OK1", "OK2", "X"}),
    "business since an unreadable date": (
        _p([{"id": "X", "type": "individual",
             "members": [{"occupation": "Entrepreneur", "business_since": "15/03/2010"}]}]),
        ("members", "X-M1", "business_since", "iso_date", "warning"), {"OK1", "OK2", "X"}),
    "french codes for holdings and activities": (
        _p([{"id": "X", "type": "individual",
             "holdings": [{"kind": "Placement", "status": "Ouvert", "value": 60000}],
             "activities": [{"kind": "Rencontre", "at": "2026-10-01T10:00:00-04:00",
                             "outcome": "Absent"}]}]),
        None, {"OK1", "OK2", "X"}),
    "identical overrides entered twice": (
        _p([{"id": "X", "type": "individual", "override": {"tier": "B", "reason": "x"}}],
           patch=lambda r: r["segment_overrides"].append(dict(r["segment_overrides"][-1]))),
        None, {"OK1", "OK2", "X"}),
    "zero-width space in a household id": (
        _p(patch=lambda r: _household(r, "OK1").update(household_id="OK1\u200b")),
        None, {"OK1", "OK2"}),
    "activity with an unreadable time": (
        _p([{"id": "X", "type": "individual",
             "activities": [{"kind": "call", "at": "hier", "outcome": "unanswered"}]}]),
        ("activities", "X-A1", "occurred_at", "present", "warning"), {"OK1", "OK2", "X"}),
}


@pytest.mark.parametrize("name", sorted(DIRTY))
def test_dirty_kind(week, name):
    how, issue, segmented = DIRTY[name]
    rows = _rows(how["extra"], how["patch"])
    week.crm(rows, amounts_as_text=True, primary_keys=False)
    # A tiny book: let one left-out household through the 5 % limit.
    week.rules(**{"quality.max_left_out_share": 0.5}).run(WEEK)
    segments = week.table("client_segments")
    issues = week.table("data_quality_issues")
    assert set(segments["household_id"]) == segmented
    if issue is None:
        assert issues.empty, issues.to_dict("records")
    else:
        source, record, column, check, severity = issue
        found = issues[(issues["source"] == source) & (issues["record_id"] == record)
                       & (issues["column"] == column)]
        assert list(found["check"]) == [check] * len(found) and len(found) >= 1, \
            issues.to_dict("records")
        assert set(found["severity"]) == {severity}
    # Nothing lost: every active household is segmented or reported as left out.
    ids = pd.Series([r["household_id"] for r in rows["households"]
                     if r["status"] == "active"], dtype=object)
    active = set(_ids(ids))  # as the job spells them: composed, without invisible characters
    left_out = set(issues.loc[issues["severity"] == "error", "household_id"])
    assert active <= set(segments["household_id"]) | left_out


def test_empty_crm_fails_clearly_and_keeps_the_previous_tables(week):
    before = _published(week)
    week.crm({name: [] for name in _book(0)})
    _fails_keeping_the_tables(week, before, "the CRM holds no active household")


def test_overrides_and_french_codes_take_effect(week):
    how, _, _ = DIRTY["identical overrides entered twice"]
    week.crm(_rows(how["extra"], how["patch"])).run(WEEK)
    row = week.table("client_segments").set_index("household_id").loc["X"]
    assert (row["segment"], row["override_reason"]) == ("B", "x")


def test_french_amount_is_read_exactly(week):
    how, _, _ = DIRTY["french amount with no-break spaces"]
    # Three households: the default 10 % A cap would round down to no A at all.
    week.crm(_rows(how["extra"]), amounts_as_text=True).rules(a_cap={}).run(WEEK)
    row = week.table("client_segments").set_index("household_id").loc["X"]
    assert (row["net_worth"], row["annual_income"], row["tier"]) == (1200000.0, 155000.0, "A")


def _book(n_bad: int, total: int = 100) -> dict:
    households = [{"id": f"H{i:03d}", "type": "individual",
                   "holdings": [{"kind": "investment", "value": 60000}]} for i in range(total)]
    for h in households[:n_bad]:
        h["holdings"][0]["value"] = "n/a"
    return crm_rows(households)


def _digest(week) -> str:
    return hashlib.sha256(week.warehouse_bytes()).hexdigest()


def _fails_keeping_the_tables(week, before: str, message: str):
    """Run the week: it must fail with `message` and leave the warehouse file as it was."""
    result = week.run(WEEK, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert message in failure.step_failure_data.error.message
    assert _digest(week) == before
    return result


def _published(week):
    week.crm(_book(0))
    week.run(WEEK)
    before = _digest(week)
    sa.create_engine(week.crm_url).dispose()
    (week.dir / "crm.sqlite").unlink()
    return before


def test_five_percent_left_out_is_still_published(week):
    week.crm(_book(5), amounts_as_text=True).run(WEEK)
    assert len(week.table("client_segments")) == 95
    assert (week.table("data_quality_issues")["severity"] == "error").sum() == 5


def test_six_percent_left_out_fails_and_keeps_the_previous_tables(week):
    before = _published(week)
    week.crm(_book(6), amounts_as_text=True)
    _fails_keeping_the_tables(week, before,
                              "6 of 100 active households (6.0%) could not be segmented")
    report = week.dir / "data_docs" / WEEK / "issues_of_the_failed_run.csv"
    assert len(pd.read_csv(report)) >= 6  # the records at fault, for the operator
    # Once a run of the week succeeds, the failed run's list goes.
    week.rules(**{"quality.max_left_out_share": 0.1}).run(WEEK)
    assert not report.exists()


def test_missing_relation_fails_and_keeps_the_previous_tables(week):
    before = _published(week)
    rows = _book(0)
    week.crm(rows)
    with sa.create_engine(week.crm_url).begin() as conn:
        conn.execute(sa.text("DROP TABLE household_tags"))
    _fails_keeping_the_tables(week, before, "relation 'household_tags' is missing")


def test_missing_column_fails_and_keeps_the_previous_tables(week):
    before = _published(week)
    week.crm(_book(0))
    with sa.create_engine(week.crm_url).begin() as conn:
        conn.execute(sa.text("ALTER TABLE holdings DROP COLUMN annual_premium"))
    _fails_keeping_the_tables(week, before, "relation 'holdings' lacks column(s) annual_premium")


def test_failed_output_check_blocks_publishing(week, monkeypatch):
    import great_expectations as gx

    from segmentation import quality

    before = _published(week)
    week.crm(_book(0))
    real = quality._expectations

    def with_an_impossible_one(gx_, suite, expected_rows):
        extra = [gx.expectations.ExpectTableRowCountToEqual(value=expected_rows + 1)]
        return real(gx_, suite, expected_rows) + (extra if suite == "client_segments" else [])

    monkeypatch.setattr(quality, "_expectations", with_an_impossible_one)
    result = _fails_keeping_the_tables(week, before,
                                       "output checks failed; nothing was published")
    checks = {e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data.passed
              for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}
    assert checks["client_segments_expectations"] is False
    assert checks["client_segment_history_expectations"] is True


def test_output_checks_are_stored_with_the_week(week):
    week.crm(_book(0)).run(WEEK)
    runs = week.table("data_quality_runs")
    assert set(runs["suite"]) == {"client_segments", "client_segment_history",
                                  "segment_distribution"}
    assert runs.loc[runs["suite"] != "segment_distribution", "passed"].astype(bool).all()
    assert (week.dir / "data_docs" / WEEK / "index.html").exists()


def test_each_once_compares_ids_across_chunks_and_missing_ids_too():
    import pyarrow as pa

    from segmentation.frames import each_once

    chunked = pa.chunked_array([["a", "b", None], ["c", "b", None, "d"]], pa.large_string())
    ids = pd.Series(pd.array(chunked, dtype=pd.StringDtype("pyarrow", na_value=float("nan"))),
                    index=range(10, 17))
    assert each_once(ids).tolist() == [True, False, False, True, False, False, True]
    assert each_once(ids).index.equals(ids.index)
    assert each_once(pd.Series([1, 2, 1], dtype=object)).tolist() == [False, True, False]
    assert each_once(pd.Series([], dtype="str")).empty
    shuffled = pd.Series([f"A-{i:04d}" for i in [5, 3, 9, 1, 3, 7, 0, 2, 8, 4, 6]], dtype="str")
    assert each_once(shuffled).tolist() == [i != 3 for i in [5, 3, 9, 1, 3, 7, 0, 2, 8, 4, 6]]
    single = pd.Series(["a", None, "b", "b"], dtype="str")
    assert each_once(single).tolist() == [True, True, False, False]


@pytest.mark.parametrize("shape", ["sorted", "sorted_with_repeats", "shuffled"])
def test_each_once_agrees_with_pandas_on_long_columns(shape):
    import numpy as np

    from segmentation.frames import each_once

    rng = np.random.default_rng(7)
    ids = [f"A-{i:05d}" for i in range(3000)]
    if shape == "sorted_with_repeats":  # a few rows entered twice, at the end and in place
        ids = ids[:1500] + ["A-01499", None] + ids[1500:] + ["A-00007", "A-02999", None]
    elif shape == "shuffled":
        ids = [ids[i] for i in rng.permutation(3000)] + ["A-00042", None]
    column = pd.Series(ids, dtype="str", index=rng.permutation(len(ids)))
    expected = ~column.astype(object).duplicated(keep=False)
    assert each_once(column).equals(expected)


@pytest.mark.parametrize("blank", [" ", "\t", "\n", "\v", "\f", "\r", "\x1f", "\u00a0", "\u2003"])
def test_ids_lose_edge_blanks_of_every_kind(blank):
    ids = pd.Series(["H-1", f"{blank}H-2", f"H-3{blank}", blank, None], dtype="str")
    assert _ids(ids).tolist()[:3] == ["H-1", "H-2", "H-3"]
    assert _ids(ids).isna().tolist()[3:] == [True, True]
    clean = pd.Series(["H-1", "H-2"], dtype="str")
    assert _ids(clean).tolist() == ["H-1", "H-2"]


def test_households_without_an_id_count_once_in_the_left_out_share(week):
    """A blank id fails two checks (missing, and repeated by the other blank ids): one house."""
    rows = _book(0)
    for household, blank in zip(rows["households"][:3], ["", " ", "\t"], strict=True):
        household["household_id"] = blank
    week.crm(rows).run(WEEK)  # 3 of 100 left out: under the 5 % line
    assert len(week.table("client_segments")) == 97


def test_a_bare_date_is_the_firms_midnight_not_utc():
    from segmentation.rules import load_rules
    from segmentation.validation import _timestamps

    zone = load_rules().timezone
    parsed = _timestamps(pd.Series(["2025-11-30", "2025-11-30T00:00:00-05:00"], dtype=object),
                         zone)
    local = pd.Timestamp("2025-11-30", tz=zone).tz_convert("UTC")
    assert parsed.tolist() == [local, pd.Timestamp("2025-11-30 05:00", tz="UTC")]
