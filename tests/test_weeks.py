"""Weeks in the warehouse: a re-run replaces its week only; a backfill never hides the current."""

import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa
from casebook import crm_rows

ROOT = Path(__file__).resolve().parents[1]
BOOK = crm_rows([{"id": f"H{i}", "type": "individual", "members": [{"income": 50000 + i}],
                  "holdings": [{"kind": "investment", "value": 60000 + 1000 * i}]}
                 for i in range(20)])


def _history_weeks(week):
    history = week.table("client_segment_history")
    return history.groupby("as_of_date")["run_id"].agg(["count", "nunique", "first"])


def test_rerunning_a_week_replaces_that_week_only(week):
    week.crm(BOOK)
    week.run("2026-11-16")
    week.run("2026-11-23")
    before = _history_weeks(week)
    week.run("2026-11-23")
    after = _history_weeks(week)
    assert list(after["count"]) == [20, 20]
    assert after.loc["2026-11-16", "first"] == before.loc["2026-11-16", "first"]
    assert after.loc["2026-11-23", "first"] != before.loc["2026-11-23", "first"]
    assert (after["nunique"] == 1).all()
    criteria = week.table("client_segment_criteria")
    assert criteria.groupby("as_of_date").size().to_dict() == \
        {d: n for d, n in criteria.groupby("as_of_date").size().items()}
    assert len(week.table("segment_distribution")) == 10


def test_a_backfill_keeps_the_newest_week_current(week):
    week.crm(BOOK)
    week.run("2026-11-30")
    week.run("2026-11-16")
    current = week.table("client_segments")
    assert set(current["as_of_date"]) == {"2026-11-30"}
    assert sorted(set(week.table("client_segment_history")["as_of_date"])) == [
        "2026-11-16", "2026-11-30"]


def _materialize(week, env_extra=None):
    env = {**week.env(), **(env_extra or {})}
    (week.dir / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return subprocess.run(
        [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "pipelines.definitions",
         "--select", "*", "--partition", "2026-11-30"],
        cwd=ROOT, env={**env, "DAGSTER_HOME": str(week.dir)}, capture_output=True, text=True,
        timeout=300)


def test_dagster_command_runs_the_week_and_fails_loudly(week):
    week.crm(BOOK)
    done = _materialize(week)
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(week.table("client_segments")) == 20
    with sa.create_engine(week.crm_url).begin() as conn:
        conn.execute(sa.text("DROP TABLE members"))
    failed = _materialize(week)
    assert failed.returncode != 0
    assert "relation 'members' is missing" in failed.stdout + failed.stderr
