"""The A cap on the book described at the end of ../shared/spec/cases.yaml."""

import pytest


def _book():
    households = []
    for i in range(1, 21):
        households.append({"id": f"Q{i:02d}", "type": "individual",
                           "members": [{"income": 151000 + i * 1000}],
                           "holdings": [{"kind": "investment", "value": 300000}]})
    for i in range(1, 81):
        households.append({"id": f"D{i:02d}", "type": "individual",
                           "holdings": [{"kind": "investment", "value": 60000}]})
    return households


@pytest.fixture(scope="module")
def segments(tmp_path_factory):
    from casebook import crm_rows
    from conftest import Week

    mp = pytest.MonkeyPatch()
    week = Week(tmp_path_factory.mktemp("cap"), mp)
    week.crm(crm_rows(_book()))
    week.run("2026-11-30")
    frame = week.table("client_segments").set_index("household_id")
    mp.undo()
    return frame


def test_the_ten_highest_incomes_stay_a(segments):
    a = segments[segments["segment"] == "A"].index
    assert sorted(a) == [f"Q{i:02d}" for i in range(11, 21)]


@pytest.mark.parametrize("i", range(1, 11))
def test_the_rest_become_b_plus_over_the_cap(segments, i):
    row = segments.loc[f"Q{i:02d}"]
    assert row["segment"] == "B+"
    assert row["potential_tier"] == "A"
    assert "over_a_cap" in row["flags"].split(",")
    assert row["computed_segment"] == "B+"


def test_d_households_stay_d(segments):
    assert set(segments.loc[[f"D{i:02d}" for i in range(1, 81)], "tier"]) == {"D"}


def test_cap_as_a_count(tmp_path, monkeypatch):
    from casebook import crm_rows
    from conftest import Week

    week = Week(tmp_path, monkeypatch).crm(crm_rows(_book())).rules(a_cap={"count": 3})
    week.run("2026-11-30")
    segments = week.table("client_segments").set_index("household_id")
    assert sorted(segments.index[segments["tier"] == "A"]) == ["Q18", "Q19", "Q20"]
