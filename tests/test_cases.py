"""The worked examples of ../shared/spec/cases.yaml, run through the weekly Dagster job."""

import pytest
from casebook import crm_rows, load_cases

CASES = load_cases()
EXPECTED = {h["id"]: h["expect"] for h in CASES["households"]}


@pytest.fixture(scope="module")
def segments(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    from conftest import Week

    week = Week(tmp_path_factory.mktemp("cases"), mp)
    week.crm(crm_rows(CASES["households"]))
    # As the cases file says: no A cap, no value-band potential (both depend on the whole book).
    week.rules(**{"a_cap": {}, "potential.value_band": False})
    week.run(CASES["as_of_date"])
    frame = week.table("client_segments").set_index("household_id")
    yield frame
    mp.undo()


@pytest.mark.parametrize("hid", sorted(EXPECTED))
def test_case(segments, hid):
    expect = EXPECTED[hid]
    if expect.get("segmented") is False:
        assert hid not in segments.index
        return
    row = segments.loc[hid]
    assert row["tier"] == expect["tier"], row["reasons"]
    if "segment" in expect:
        assert row["segment"] == expect["segment"], row["reasons"]
    if "potential_tier" in expect:
        assert row["potential_tier"] == expect["potential_tier"]
    if "computed_tier" in expect:
        assert row["computed_segment"][0] == expect["computed_tier"]
    flags = row["flags"].split(",") if row["flags"] else []
    for flag in expect.get("flags", []):
        assert flag in flags, (flag, flags)


def test_every_segmented_case_has_one_row(segments):
    expected = {h for h, e in EXPECTED.items() if e.get("segmented", True)}
    assert set(segments.index) == expected


def test_cases_copy_is_current():
    from casebook import COPY, SHARED

    if not SHARED.exists():
        pytest.skip("../shared/spec/cases.yaml is not beside this clone")
    assert COPY.read_text("utf-8") == SHARED.read_text("utf-8"), \
        "copy ../shared/spec/cases.yaml to tests/data/cases.yaml"
