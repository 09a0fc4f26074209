"""PostgreSQL under faults: atomic publishing, kills, lost connections, concurrent runs."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from casebook import crm_rows
from conftest import RESOURCES, Week
from faults import Proxy

from pipelines.resources import CrmDatabaseResource

WEEK = "2026-11-30"
ROOT = Path(__file__).resolve().parents[1]


def _book(n: int, prefix: str = "H") -> dict:
    return crm_rows([{"id": f"{prefix}{i:06d}", "type": "couple" if i % 3 else "individual",
                      "members": [{"income": 40000 + (i * 7919) % 150000}],
                      "holdings": [{"kind": "investment", "value": (i * 104729) % 600000}]}
                     for i in range(n)])


def _pg_week(tmp_path, monkeypatch, postgres_database) -> Week:
    return Week(tmp_path, monkeypatch, postgres_database("crm"), postgres_database("warehouse"))


def _fingerprint(url: str) -> tuple:
    """Row count, distinct runs and a digest of every row of client_segments."""
    with sa.create_engine(url).connect() as conn:
        return tuple(conn.execute(sa.text(
            "SELECT count(*), count(DISTINCT run_id), "
            "md5(coalesce(string_agg(t::text, '|' ORDER BY household_id), '')) "
            "FROM client_segments t")).one())


def test_view_and_grant_survive_every_run(tmp_path, monkeypatch, postgres_database,
                                          postgres_admin):
    week = _pg_week(tmp_path, monkeypatch, postgres_database)
    week.crm(_book(50)).run(WEEK)
    engine = sa.create_engine(week.warehouse_url)
    with postgres_admin.connect() as conn:
        conn.execute(sa.text("DO $$ BEGIN CREATE ROLE segtest_bi NOLOGIN; "
                             "EXCEPTION WHEN duplicate_object THEN NULL; END $$"))
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE VIEW bi_a_households AS "
                             "SELECT household_id FROM client_segments WHERE tier = 'A'"))
        conn.execute(sa.text("GRANT SELECT ON client_segments TO segtest_bi"))
    week.run(WEEK)
    week.run("2026-11-23")  # a backfill of an older week
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM bi_a_households")).scalar() >= 0
        assert conn.execute(sa.text(
            "SELECT has_table_privilege('segtest_bi', 'client_segments', 'SELECT')")).scalar()
    engine.dispose()


def test_reader_sees_only_complete_tables(tmp_path, monkeypatch, postgres_database):
    week = _pg_week(tmp_path, monkeypatch, postgres_database)
    big, small = _book(3000), _book(1000, prefix="S")
    week.crm(big).run(WEEK)
    seen, stop = [], threading.Event()
    reader = sa.create_engine(week.warehouse_url)

    def poll():
        with reader.connect() as conn:
            while not stop.is_set():
                seen.append(tuple(conn.execute(sa.text(
                    "SELECT count(*), count(DISTINCT run_id) FROM client_segments")).one()))
                conn.commit()

    thread = threading.Thread(target=poll)
    thread.start()
    try:
        for rows in (small, big, small):
            with sa.create_engine(week.crm_url).begin() as conn:
                for table in ("households", "members", "holdings"):
                    conn.execute(sa.text(f"DELETE FROM {table}"))
            sa.create_engine(week.crm_url).dispose()
            _refill(week.crm_url, rows)
            week.run(WEEK)
    finally:
        stop.set()
        thread.join()
        reader.dispose()
    assert len(seen) > 10
    assert set(seen) <= {(3000, 1), (1000, 1)}, set(seen)


def _refill(url: str, rows: dict) -> None:
    md = sa.MetaData()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for name in ("households", "members", "holdings"):
            table = sa.Table(name, md, autoload_with=conn)
            conn.execute(sa.insert(table), [{c.name: r.get(c.name) for c in table.columns}
                                            for r in rows[name]])
    engine.dispose()


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    names = set(sa.inspect(engine).get_table_names())
    engine.dispose()
    return names


def _failing_at(real, fail_at: int):
    calls = {"n": 0}

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == fail_at:
            raise RuntimeError(f"injected failure at call {fail_at}")
        return real(*args, **kwargs)

    return failing


@pytest.mark.parametrize(("step", "fail_at"), [
    ("_insert", 1), ("_insert", 2), ("_insert", 4),  # the tables written in the transaction
    ("_replace_current", 1),  # client_segments, copied from the staged history
    ("_stage", 1), ("_stage", 2),  # loading the history or the criteria beside the live tables
    ("_swap_in", 1), ("_swap_in", 2),  # swapping in the second partition, after the first
])
def test_exception_between_writes_keeps_previous_contents(tmp_path, monkeypatch,
                                                          postgres_database, step, fail_at):
    from segmentation import warehouse

    week = _pg_week(tmp_path, monkeypatch, postgres_database)
    week.crm(_book(200)).run(WEEK)
    before, tables = _fingerprint(week.warehouse_url), _tables(week.warehouse_url)
    real = getattr(warehouse, step)
    monkeypatch.setattr(warehouse, step, _failing_at(real, fail_at))
    result = week.run(WEEK, raise_on_error=False)
    assert not result.success
    assert _fingerprint(week.warehouse_url) == before
    assert _tables(week.warehouse_url) == tables  # no staging table left behind
    monkeypatch.setattr(warehouse, step, real)
    week.run(WEEK)
    after = _fingerprint(week.warehouse_url)
    assert after[0] == before[0] and after[2] != before[2]  # a new run id, same households
    assert _tables(week.warehouse_url) == tables


def test_process_killed_mid_write_keeps_previous_contents(tmp_path, monkeypatch,
                                                          postgres_database):
    from segmentation.demo import generate_demo_crm, write_crm

    week = _pg_week(tmp_path, monkeypatch, postgres_database)
    frames = generate_demo_crm(households=40000, as_of=None)
    write_crm(sa.create_engine(week.crm_url), frames)
    week.rules(**{"quality.max_left_out_share": 1.0})
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "run", "--week", WEEK],
                          env=env, cwd=ROOT, capture_output=True, timeout=600)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    before = _fingerprint(week.warehouse_url)

    job = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "run", "--week", WEEK],
                           env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    monitor = sa.create_engine(week.warehouse_url)
    database = sa.engine.make_url(week.warehouse_url).database
    caught = None
    deadline = time.monotonic() + 300
    with monitor.connect() as conn:
        while job.poll() is None and time.monotonic() < deadline:
            caught = conn.execute(sa.text(
                "SELECT query FROM pg_stat_activity WHERE datname = :d AND state = 'active' "
                "AND (query ILIKE 'COPY %' OR query ILIKE 'DELETE FROM %')"),
                {"d": database}).scalar()
            conn.commit()
            if caught:
                job.send_signal(signal.SIGKILL)
                break
            time.sleep(0.02)
    job.wait(timeout=60)
    monitor.dispose()
    assert caught, "the write was never seen in progress"
    assert job.returncode == -signal.SIGKILL
    assert _fingerprint(week.warehouse_url) == before


def test_crm_refusing_connections_fails_after_bounded_retries(tmp_path, monkeypatch,
                                                               postgres_database):
    week = _pg_week(tmp_path, monkeypatch, postgres_database)
    week.crm(_book(20)).run(WEEK)
    before = _fingerprint(week.warehouse_url)
    url = sa.engine.make_url(week.crm_url)
    proxy = Proxy((url.host, url.port or 5432))
    proxy.close()  # nobody listens on its port any more
    monkeypatch.setenv("CRM_DATABASE_URL", url.set(port=proxy.port).render_as_string(False))
    monkeypatch.setitem(RESOURCES, "crm", CrmDatabaseResource(attempts=3, backoff_seconds=0.05))
    started = time.monotonic()
    result = week.run(WEEK, raise_on_error=False)
    assert not result.success
    message = next(e for e in result.all_events if e.is_step_failure).step_failure_data.error
    assert "did not answer after 3 attempts" in message.message
    assert time.monotonic() - started < 60
    assert _fingerprint(week.warehouse_url) == before


@pytest.mark.parametrize("cuts, succeeds", [(1, True), (99, False)])
def test_crm_connection_cut_mid_read(tmp_path, monkeypatch, postgres_database, cuts, succeeds):
    week = _pg_week(tmp_path, monkeypatch, postgres_database)
    week.crm(_book(2000)).run(WEEK)
    before = _fingerprint(week.warehouse_url)
    url = sa.engine.make_url(week.crm_url)
    proxy = Proxy((url.host or "127.0.0.1", url.port or 5432))
    proxy.cut_after, proxy.cuts_left = 20000, cuts  # past the handshake, inside the rows
    monkeypatch.setenv("CRM_DATABASE_URL", url.set(port=proxy.port).render_as_string(False))
    monkeypatch.setitem(RESOURCES, "crm", CrmDatabaseResource(attempts=3, backoff_seconds=0.05))
    try:
        result = week.run(WEEK, raise_on_error=False)
    finally:
        proxy.close()
    assert result.success is succeeds
    assert proxy.connections >= 2
    if not succeeds:
        message = next(e for e in result.all_events if e.is_step_failure).step_failure_data
        assert "did not answer after 3 attempts" in message.error.message
        assert _fingerprint(week.warehouse_url) == before


def test_two_runs_of_the_same_week_at_once(tmp_path, monkeypatch, postgres_database):
    week = _pg_week(tmp_path, monkeypatch, postgres_database)
    week.crm(_book(1500))
    results = []

    def run():
        results.append(week.run(WEEK, raise_on_error=False).success)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [True, True]
    count, runs, _ = _fingerprint(week.warehouse_url)
    assert (count, runs) == (1500, 1)
    with sa.create_engine(week.warehouse_url).connect() as conn:
        history = conn.execute(sa.text(
            "SELECT count(*), count(DISTINCT household_id) FROM client_segment_history")).one()
    assert tuple(history) == (1500, 1500)
