"""The generated demo book through the weekly job: its shape, its dirt, its criteria, privacy."""

import datetime as dt
import logging

import pandas as pd
import pytest
import sqlalchemy as sa

from segmentation.demo import generate_demo_crm, write_crm

WEEK = "2026-11-30"
TABLES = ("client_segments", "client_segment_history", "client_segment_criteria",
          "segment_distribution", "segment_migrations", "data_quality_issues",
          "data_quality_runs")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from conftest import Week

    mp = pytest.MonkeyPatch()
    week = Week(tmp_path_factory.mktemp("demo"), mp)
    frames = generate_demo_crm(households=5000, as_of=dt.date(2026, 11, 30))
    write_crm(sa.create_engine(week.crm_url), frames)
    handler = _Capture()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        result = week.run(WEEK)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    tables = {name: week.table(name) for name in TABLES}
    # Python logging and Dagster's own event log (what the UI shows), every message of the run.
    events = [e.message or "" for e in result.all_events]
    yield {"week": week, "frames": frames, "result": result, "tables": tables,
           "logs": "\n".join(handler.lines + events)}
    mp.undo()


class _Capture(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def test_tiers_land_in_their_target_bands(demo):
    distribution = demo["tables"]["segment_distribution"].set_index("tier")
    assert distribution["within_target"].astype(bool).all(), distribution


def test_criteria_table_agrees_with_the_counts(demo):
    segments = demo["tables"]["client_segments"].set_index("household_id")
    criteria = demo["tables"]["client_segment_criteria"]
    met = criteria[criteria["met"].astype(bool)]
    counts = met.groupby(["household_id", "tier"]).size().unstack(fill_value=0)
    counts = counts.reindex(index=segments.index, columns=list("ABCDE"), fill_value=0)
    for tier in "ABCDE":
        assert (counts[tier] == segments[f"criteria_met_{tier.lower()}"]).all(), tier


def test_one_away_from_a_query_from_the_readme(demo):
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text("utf-8")
    query = readme.split("<!-- one-away-from-a -->")[1].split("```sql")[1].split("```")[0]
    with sa.create_engine(demo["week"].warehouse_url).connect() as conn:
        found = pd.read_sql(sa.text(query), conn)
    segments = demo["tables"]["client_segments"]
    expected = segments[(segments["tier"] != "A") & (segments["criteria_met_a"] == 1)]
    near = demo["tables"]["client_segment_criteria"]
    near = near[(near["tier"] == "A") & ~near["met"].astype(bool)]
    expected = expected[expected["household_id"].isin(near["household_id"])]
    assert set(found["household_id"]) == set(expected["household_id"])
    assert len(found) > 0


def test_the_demos_dirt_shows_in_the_report(demo):
    issues = demo["tables"]["data_quality_issues"]
    checks = set(zip(issues["source"], issues["check"], strict=True))
    for expected in [("households", "unique_id"), ("holdings", "unique_id"),
                     ("households", "referrer_exists"), ("households", "not_self_referral"),
                     ("households", "member_count_matches_type"),
                     ("members", "household_exists"), ("holdings", "household_exists"),
                     ("segment_overrides", "household_exists"),
                     ("segment_overrides", "override_not_expired"),
                     ("household_tags", "known_code"), ("members", "occupation_mapped")]:
        assert expected in checks, expected
    assert (issues["check"] == "amount_readable").any()
    assert (issues["check"] == "not_negative").any()
    assert issues["check"].str.startswith("amount_at_most").any()
    # Every active household is either segmented or reported as left out.
    households = demo["frames"]["households"]
    active = set(households.loc[households["status"].astype(str).str.casefold().isin(
        ["active", "actif"]), "household_id"].astype(str))
    segmented = set(demo["tables"]["client_segments"]["household_id"])
    left_out = set(issues.loc[issues["severity"] == "error", "household_id"])
    assert active <= segmented | left_out


def test_no_personal_detail_in_logs_or_tables(demo):
    members = demo["frames"]["members"]
    personal = {v for column in ("first_name", "last_name", "email")
                for v in members[column].dropna().astype(str) if len(v) > 3}
    personal |= {str(v) for v in members["birth_date"].dropna().astype(str)}
    haystack = [demo["logs"]]
    for frame in demo["tables"].values():
        haystack.append(frame.astype(str).to_csv(index=False))
    text = "\n".join(haystack)
    # Last names like "Roy" are also words; whole-value matches of every name are what count.
    leaked = [p for p in personal if f",{p}," in text or f" {p} " in text or p in demo["logs"]]
    assert not leaked, leaked[:10]
    assert len(demo["logs"]) > 0
