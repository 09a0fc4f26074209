"""The weekly job with the CRM and the warehouse both on PostgreSQL."""

from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from casebook import crm_rows, load_cases
from conftest import Week

ROOT = Path(__file__).resolve().parents[1]

CASES = load_cases()
NO_CAP = {"a_cap": {}, "potential.value_band": False}


def _segments(week: Week) -> pd.DataFrame:
    frame = week.table("client_segments").drop(columns=["run_id"])
    return frame.sort_values("household_id").reset_index(drop=True)


def _cents_text(value) -> str | None:
    return None if pd.isna(value) else f"{value:.2f}"


def test_cases_on_postgres_agree_with_sqlite(tmp_path, monkeypatch, postgres_database):
    rows = crm_rows(CASES["households"])
    pg = Week(tmp_path / "pg", monkeypatch, postgres_database("crm"),
              postgres_database("warehouse"))
    (tmp_path / "pg").mkdir()
    # Text amounts: P28 holds "1 200 000,00 $", which a NUMERIC column cannot.
    pg.crm(rows, amounts_as_text=True).rules(**NO_CAP).run(CASES["as_of_date"])
    on_postgres = _segments(pg)

    lite = Week(tmp_path / "lite", monkeypatch)
    (tmp_path / "lite").mkdir()
    lite.crm(rows).rules(**NO_CAP).run(CASES["as_of_date"])
    on_sqlite = _segments(lite)

    assert len(on_postgres) == 30  # 31 cases, one inactive
    for column in ("aum", "insurance_premiums", "annual_savings", "annual_income", "net_worth"):
        # NUMERIC on PostgreSQL, REAL on SQLite: compare as exact decimal strings of cents.
        on_postgres[column] = on_postgres[column].map(_cents_text)
        on_sqlite[column] = on_sqlite[column].map(_cents_text)
    on_sqlite["as_of_date"] = pd.to_datetime(on_sqlite["as_of_date"]).dt.date
    on_sqlite["has_potential"] = on_sqlite["has_potential"].astype(bool)
    pd.testing.assert_frame_equal(on_postgres, on_sqlite, check_dtype=False)


def test_warehouse_types_on_postgres(tmp_path, monkeypatch, postgres_database):
    week = Week(tmp_path, monkeypatch, postgres_database("crm"), postgres_database("warehouse"))
    week.crm(crm_rows(CASES["households"][:5])).run(CASES["as_of_date"])
    engine = sa.create_engine(week.warehouse_url)
    columns = {c["name"]: str(c["type"]) for c in sa.inspect(engine).get_columns(
        "client_segments")}
    assert columns["aum"] == "NUMERIC(14, 2)"
    assert columns["as_of_date"] == "DATE"
    assert columns["has_potential"] == "BOOLEAN"
    assert columns["household_id"] == 'TEXT COLLATE "C"'  # keys compare byte by byte


def test_password_never_reaches_logs_or_metadata(tmp_path, monkeypatch, postgres_database):
    marker = "Sx9-never-log-this"  # a made-up password: trust auth ignores it
    crm = sa.engine.make_url(postgres_database("crm")).set(password=marker)
    warehouse = sa.engine.make_url(postgres_database("warehouse")).set(password=marker)
    week = Week(tmp_path, monkeypatch, crm.render_as_string(hide_password=False),
                warehouse.render_as_string(hide_password=False))
    week.crm(crm_rows(CASES["households"][:3]))
    import dagster as dg

    instance = dg.DagsterInstance.ephemeral()
    result = week.run(CASES["as_of_date"], instance=instance)
    seen = []
    for entry in instance.all_logs(result.run_id):  # what the UI shows: logs, events, metadata
        seen.append(entry.user_message or "")
        seen.append(repr(entry.dagster_event))
    seen.append(repr(instance.get_run_by_id(result.run_id).run_config))
    assert marker not in "\n".join(seen)
    assert any("***" in line for line in seen)  # the URL is shown, masked


def test_dagster_instance_on_postgres(tmp_path, monkeypatch, postgres_database):
    import shutil

    import dagster as dg

    from pipelines.definitions import defs

    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(ROOT / "deploy" / "dagster.postgres.yaml", home / "dagster.yaml")
    url = sa.engine.make_url(postgres_database("dagster"))
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    for key, value in {"DAGSTER_PG_HOST": url.host or "127.0.0.1",
                       "DAGSTER_PG_PORT": str(url.port or 5432), "DAGSTER_PG_DB": url.database,
                       "DAGSTER_PG_USER": url.username or "postgres",
                       "DAGSTER_PG_PASSWORD": url.password or ""}.items():
        monkeypatch.setenv(key, value)
    week = Week(tmp_path, monkeypatch)
    week.crm(crm_rows(CASES["households"][:3]))
    job = defs.resolve_job_def("segmentation_weekly_job")
    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        result = job.execute_in_process(partition_key="2026-11-30", instance=instance)
        assert result.success
    with sa.create_engine(url).connect() as conn:
        runs = conn.execute(sa.text("SELECT count(*) FROM runs WHERE status = 'SUCCESS'"))
        assert runs.scalar() == 1


def test_crm_sessions_are_read_only(postgres_database):
    from segmentation.db import create_engine_for

    url = postgres_database("crm")
    with sa.create_engine(url).begin() as conn:
        conn.execute(sa.text("CREATE TABLE households (household_id text)"))
    engine = create_engine_for(url, read_only=True)
    with engine.connect() as conn:
        try:
            conn.execute(sa.text("INSERT INTO households VALUES ('x')"))
            raise AssertionError("the CRM session accepted a write")
        except sa.exc.InternalError as exc:
            assert "read-only transaction" in str(exc)
    engine.dispose()


def test_schema_names_from_the_environment_are_checked(monkeypatch):
    import pytest

    from pipelines.resources import WarehouseResource

    monkeypatch.setenv("WAREHOUSE_SCHEMA", 'bi"; DROP TABLE x; --')
    with pytest.raises(ValueError, match="not a plain SQL identifier"):
        WarehouseResource().engine()


def test_generated_book_on_postgres_agrees_with_sqlite(tmp_path, monkeypatch, postgres_database):
    import datetime as dt

    from segmentation.demo import generate_demo_crm, write_crm

    frames = generate_demo_crm(households=2000, seed=3, as_of=dt.date(2026, 11, 30))
    results = []
    for label, crm, warehouse in (
            ("pg", postgres_database("crm"), postgres_database("warehouse")),
            ("lite", None, None)):
        (tmp_path / label).mkdir()
        week = Week(tmp_path / label, monkeypatch, crm, warehouse)
        write_crm(sa.create_engine(week.crm_url), frames, amounts_as_text=True)
        week.run("2026-11-30")
        segments = _segments(week)
        for column in ("aum", "insurance_premiums", "annual_savings", "annual_income",
                       "net_worth"):
            segments[column] = segments[column].map(_cents_text)
        segments["as_of_date"] = pd.to_datetime(segments["as_of_date"]).dt.date
        segments["has_potential"] = segments["has_potential"].astype(bool)
        results.append(segments)
    assert len(results[0]) > 1900
    pd.testing.assert_frame_equal(results[0], results[1], check_dtype=False)


def _partitions(engine: sa.Engine, table: str) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.execute(sa.text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = :t"), {"t": table}).scalars())


def test_weeks_are_partitions_replaced_on_rerun(tmp_path, monkeypatch, postgres_database):
    week = Week(tmp_path, monkeypatch, postgres_database("crm"), postgres_database("warehouse"))
    week.crm(crm_rows(CASES["households"][:8]))
    for as_of in ("2026-11-23", "2026-11-30", "2026-11-30"):
        week.run(as_of)
    engine = sa.create_engine(week.warehouse_url)
    for table in ("client_segment_history", "client_segment_criteria"):
        assert _partitions(engine, table) == [f"{table}_20261123", f"{table}_20261130"]
    history = week.table("client_segment_history")
    assert history.groupby("as_of_date").size().tolist() == [8, 8]
    assert history.groupby("as_of_date")["run_id"].nunique().tolist() == [1, 1]
    with engine.connect() as conn:
        staged = conn.execute(sa.text(
            "SELECT count(*) FROM pg_class WHERE relname LIKE '%\\_\\_stage\\_%'")).scalar()
    assert staged == 0
    engine.dispose()


def test_warehouse_with_plain_tables_is_still_written(tmp_path, monkeypatch, postgres_database):
    """A warehouse created before partitioning keeps its tables: weeks are deleted, then copied."""
    from segmentation import warehouse

    url = postgres_database("warehouse")
    engine = sa.create_engine(url)
    plain = sa.MetaData()
    for table in warehouse.metadata.tables.values():
        copy = table.to_metadata(plain)
        copy.dialect_options["postgresql"]["partition_by"] = None
    plain.create_all(engine)
    week = Week(tmp_path, monkeypatch, postgres_database("crm"), url)
    week.crm(crm_rows(CASES["households"][:8]))
    week.run("2026-11-30")
    week.run("2026-11-30")
    assert _partitions(engine, "client_segment_history") == []
    assert len(week.table("client_segment_history")) == 8
    assert len(week.table("client_segments")) == 8
    assert len(week.table("client_segment_criteria")) > 0
    engine.dispose()


def test_summary_reads_the_warehouse_schema(tmp_path, monkeypatch, postgres_database):
    from pipelines.cli import summary

    url = postgres_database("warehouse")
    week = Week(tmp_path, monkeypatch, postgres_database("crm"), url)
    week.crm(crm_rows(CASES["households"][:8]))
    week.run("2026-11-30")  # 8 households in the default schema
    monkeypatch.setenv("WAREHOUSE_SCHEMA", "seg_other")
    other = Week(tmp_path / "other", monkeypatch, postgres_database("crm"), url)
    (tmp_path / "other").mkdir()
    monkeypatch.setenv("WAREHOUSE_SCHEMA", "seg_other")
    other.crm(crm_rows(CASES["households"][:5])).run("2026-11-30")
    assert "Week of 2026-11-30: 5 households segmented." in summary("2026-11-30")
    monkeypatch.delenv("WAREHOUSE_SCHEMA")
    assert "Week of 2026-11-30: 8 households segmented." in summary("2026-11-30")


def test_warehouse_with_the_old_criteria_key_gets_the_index(tmp_path, monkeypatch,
                                                            postgres_database):
    """Earlier versions gave the criteria a four-column key; the first run replaces it."""
    from segmentation import warehouse

    url = postgres_database("warehouse")
    engine = sa.create_engine(url)
    old = sa.MetaData()
    for table in warehouse.metadata.tables.values():
        copy = table.to_metadata(old)
        if table.name == "client_segment_criteria":
            copy.indexes.clear()
            copy.append_constraint(sa.PrimaryKeyConstraint(
                "as_of_date", "household_id", "tier", "characteristic",
                name=warehouse.OLD_CRITERIA_KEY))
    old.create_all(engine)
    week = Week(tmp_path, monkeypatch, postgres_database("crm"), url)
    week.crm(crm_rows(CASES["households"][:8]))
    week.run("2026-11-23")
    week.run("2026-11-30")
    inspector = sa.inspect(engine)
    assert inspector.get_pk_constraint("client_segment_criteria")["name"] is None
    for table in ("client_segment_criteria", *_partitions(engine, "client_segment_criteria")):
        indexes = sa.inspect(engine).get_indexes(table)
        assert [i["column_names"] for i in indexes] == [["as_of_date", "household_id"]], table
    assert week.table("client_segment_criteria")["as_of_date"].nunique() == 2
    engine.dispose()
