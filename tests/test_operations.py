"""What operations and BI see: the weekly story, movements, freshness, alerts, the dictionary."""

import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pandas as pd
import sqlalchemy as sa

from pipelines.monitoring import age_in_days, client_segments_fresh, segmentation_failure_alert
from pipelines.resources import WarehouseResource
from schemas.dictionary import render_dictionary
from segmentation.demo import generate_demo_crm, write_crm

ROOT = Path(__file__).resolve().parents[1]
MONTREAL = ZoneInfo("America/Montreal")


def _demo(week, households=1500):
    frames = generate_demo_crm(households=households, seed=11, as_of=dt.date(2026, 11, 30))
    write_crm(sa.create_engine(week.crm_url), frames)
    return frames


def _metadata(result, key: str) -> dict:
    materializations = result.asset_materializations_for_node("warehouse_tables")
    found = next(m for m in materializations if m.asset_key.to_user_string() == key)
    return {k: getattr(v, "value", v) for k, v in found.metadata.items()}


def _a_week_passes(week):
    """Between two runs some households get richer and some lose their accounts."""
    with sa.create_engine(week.crm_url).begin() as conn:
        conn.execute(sa.text("UPDATE households SET net_worth = 3000000 "
                             "WHERE household_id IN (SELECT household_id FROM households "
                             "ORDER BY household_id LIMIT 150)"))
        conn.execute(sa.text("UPDATE holdings SET status = 'closed' "
                             "WHERE household_id IN (SELECT household_id FROM households "
                             "ORDER BY household_id DESC LIMIT 150)"))


def test_two_weeks_tell_the_movements(week):
    _demo(week)
    week.run("2026-11-23")
    first = week.table("client_segments")
    _a_week_passes(week)
    result = week.run("2026-11-30")
    second = week.table("client_segments")
    meta = _metadata(result, "client_segments")

    both = first.merge(second, on="household_id", suffixes=("_before", "_after"))
    moved = both[both["tier_before"] != both["tier_after"]]
    assert meta["households_moved_tier"] == len(moved) > 0
    changed = both[both["segment_before"] != both["segment_after"]]
    migrations = week.table("segment_migrations")
    assert len(migrations) == meta["households_changed_segment"] == len(changed)
    assert set(migrations["previous_as_of_date"]) == {"2026-11-23"}
    assert "| tier | households | share | target | within |" in meta["distribution"]
    matrix = meta["tier_moves"]
    assert matrix.startswith("| from \\ to | A | B | C | D | E |")
    expected_a_to_b = int(((moved["tier_before"] == "A") & (moved["tier_after"] == "B")).sum())
    row_a = next(line for line in matrix.splitlines() if line.startswith("| A |"))
    assert int(row_a.split("|")[3]) == expected_a_to_b
    for tier in "ABCDE":
        share = (second["tier"] == tier).mean()
        assert abs(meta[f"share_{tier}"] - share) < 1e-12
    assert meta["overrides_in_force"] == int(second["override_reason"].notna().sum())


def test_a_households_that_dropped_query_from_the_readme(week):
    _demo(week)
    week.run("2026-11-23")
    _a_week_passes(week)
    week.run("2026-11-30")
    readme = (ROOT / "README.md").read_text("utf-8")
    query = readme.split("<!-- dropped-a -->")[1].split("```sql")[1].split("```")[0]
    with sa.create_engine(week.warehouse_url).connect() as conn:
        dropped = pd.read_sql(sa.text(query), conn)
    migrations = week.table("segment_migrations")
    expected = migrations[(migrations["previous_tier"] == "A")
                          & (migrations["new_tier"].fillna("") != "A")]
    assert sorted(dropped["household_id"]) == sorted(expected["household_id"])
    assert len(expected) > 0


def _fresh_result(week, as_of: str, today: dt.datetime, monkeypatch):
    from pipelines import monitoring

    week.crm(_tiny()).run(as_of)

    class Clock(dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return today

    monkeypatch.setattr(monitoring.dt, "datetime", Clock)
    return client_segments_fresh(dg.build_asset_check_context(), WarehouseResource())


def _tiny():
    from casebook import crm_rows

    return crm_rows([{"id": "H1", "type": "individual",
                      "holdings": [{"kind": "investment", "value": 60000}]}])


def test_freshness_passes_on_a_fresh_table(week, monkeypatch):
    today = dt.datetime(2026, 12, 4, 9, 0, tzinfo=MONTREAL)
    assert _fresh_result(week, "2026-11-30", today, monkeypatch).passed


def test_freshness_fails_on_a_stale_table(week, monkeypatch):
    today = dt.datetime(2026, 12, 9, 9, 0, tzinfo=MONTREAL)  # Wednesday after a missed Monday
    result = _fresh_result(week, "2026-11-30", today, monkeypatch)
    assert not result.passed
    assert result.metadata["published_week"].value == "2026-11-30"


def test_age_counts_from_monday_midnight_in_montreal():
    monday = dt.date(2026, 11, 30)
    assert age_in_days(monday, dt.datetime(2026, 12, 8, 0, 0, tzinfo=MONTREAL)) == 8


def test_failure_sensor_writes_one_notice_per_failed_run(week, monkeypatch, tmp_path):
    frames = _demo(week, households=300)
    with sa.create_engine(week.crm_url).begin() as conn:
        conn.execute(sa.text("DROP TABLE segment_overrides"))
    alerts = tmp_path / "alerts.jsonl"
    monkeypatch.setenv("SEGMENTATION_ALERT_SENDER", "file")
    monkeypatch.setenv("SEGMENTATION_ALERT_FILE", str(alerts))
    instance = dg.DagsterInstance.ephemeral()
    failed = []
    for _ in range(2):
        result = week.run("2026-11-30", raise_on_error=False, instance=instance)
        assert not result.success
        failed.append(result)
    for result in failed:
        run = instance.get_run_by_id(result.run_id)
        records = instance.get_records_for_run(
            result.run_id, of_type=dg.DagsterEventType.RUN_FAILURE).records
        event = records[0].event_log_entry.dagster_event
        context = dg.build_run_status_sensor_context(
            sensor_name="segmentation_failure_alert", dagster_instance=instance,
            dagster_run=run, dagster_event=event).for_run_failure()
        segmentation_failure_alert(context)
    notices = [json.loads(line) for line in alerts.read_text("utf-8").splitlines()]
    assert len(notices) == 2
    assert {n["subject"] for n in notices} == {
        "[segmentation] __ephemeral_asset_job__ failed for the week of 2026-11-30"}
    body = notices[0]["body"]
    assert "Failed step: crm_extract" in body and "segment_overrides" in body
    members = frames["members"]
    personal = set(members["first_name"]) | set(members["last_name"]) | set(members["email"])
    text = alerts.read_text("utf-8")
    assert not [p for p in personal if isinstance(p, str) and p in text]


def test_dictionary_lists_every_column_a_run_creates(week):
    week.crm(_tiny()).run("2026-11-30")
    dictionary = render_dictionary()
    inspector = sa.inspect(sa.create_engine(week.warehouse_url))
    tables = inspector.get_table_names()
    assert len(tables) == 7
    for table in tables:
        section = dictionary.split(f"## `{table}`")[1].split("\n## ")[0]
        for column in inspector.get_columns(table):
            assert f"| `{column['name']}` |" in section, (table, column["name"])
    for view in inspector.get_view_names():
        assert f"`{view}`" in dictionary


def test_committed_dictionary_is_current():
    committed = (ROOT / "docs" / "data-dictionary.md").read_text("utf-8")
    assert committed == render_dictionary(), "run: segmentation dictionary --output " \
        "docs/data-dictionary.md"


def test_views_for_bi(week):
    week.crm(_tiny()).run("2026-11-23")
    week.run("2026-11-30")
    with sa.create_engine(week.warehouse_url).connect() as conn:
        current = conn.execute(sa.text("SELECT count(*) FROM v_client_segments_current")).scalar()
        weeks = conn.execute(sa.text(
            "SELECT count(DISTINCT as_of_date) FROM v_client_segment_history_52w")).scalar()
    assert (current, weeks) == (1, 2)
