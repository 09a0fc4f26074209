"""`segmentation benchmark`: the weekly job end to end on generated books, timed stage by stage.

For each backend it builds a CRM of N households, runs the real job in a child process (so its
peak memory is the job's own), and on PostgreSQL also times the floor: COPY of the same input
relations out and of the same output rows in. The last line sums it up for scripts.
"""

import argparse
import datetime as dt
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

WEEK = "2026-11-30"
STAGES = [("read", "crm_extract", None), ("validate", "household_profiles", "seconds_validate"),
          ("profile", "household_profiles", "seconds_profile"),
          ("segment", "segmented_book", "seconds_segment"),
          ("quality checks", "segmented_book", "seconds_quality"),
          ("write", "warehouse_tables", None)]
OUTPUT_TABLES = ("client_segment_history", "client_segment_criteria", "segment_distribution",
                 "segment_migrations", "data_quality_issues", "data_quality_runs")


def hand_off_io_manager(defs):
    """Outputs handed to the next steps in memory, each let go once its last reader has it.

    Dagster's `mem_io_manager` keeps every output until the run ends, so the raw CRM extract
    would outlive its only reader; the job's own runs pickle outputs to disk between processes.
    """
    import dagster as dg

    graph = defs.resolve_asset_graph()
    # Readers are steps: one multi-asset step reads an input once for all the tables it makes.
    readers = {key: len({graph.get(child).assets_def.node_def.name
                         for child in graph.get(key).child_keys})
               for key in graph.get_all_asset_keys()}

    class HandOff(dg.IOManager):
        def __init__(self):
            self.held = {}

        def handle_output(self, context, obj):
            if readers.get(context.asset_key):
                self.held[context.asset_key] = [obj, readers[context.asset_key]]

        def load_input(self, context):
            held = self.held[context.asset_key]
            held[1] -= 1
            if held[1] == 0:
                del self.held[context.asset_key]
            return held[0]

    return dg.IOManagerDefinition.hardcoded_io_manager(HandOff())


def weekly_job_in_memory():
    """The weekly job with its outputs handed over in memory (a `reconstructable` target)."""
    import dagster as dg

    from pipelines.definitions import defs

    hand_off = dg.Definitions(resources={"io_manager": hand_off_io_manager(defs)})
    return dg.Definitions.merge(defs, hand_off).resolve_job_def("segmentation_weekly_job")


def run_child(week: str) -> dict:
    """In the child: run the job in process with in-memory hand-offs; report what it measured.

    `execute_job`, not `execute_in_process`: the latter keeps every step's output for its
    result, so the extract would stay in memory to the end whatever the IO manager does.
    """
    import dagster as dg

    import pipelines.definitions  # noqa: F401  loaded before the clock starts, as a run worker has it

    started = time.perf_counter()
    with dg.DagsterInstance.get() as instance, dg.execute_job(
            dg.reconstructable(weekly_job_in_memory), instance, raise_on_error=False,
            tags={"dagster/partition": week},
            run_config={"execution": {"config": {"in_process": {}}},
                        "loggers": {"console": {"config": {"log_level": "WARNING"}}}}) as result:
        events = result.all_events
        success = result.success
    total = time.perf_counter() - started
    steps, metadata = {}, {}
    for event in events:
        if event.event_type_value == "STEP_SUCCESS":
            steps[event.step_key] = event.event_specific_data.duration_ms / 1000
        elif event.event_type_value == "ASSET_MATERIALIZATION":
            m = event.event_specific_data.materialization
            meta = metadata.setdefault(event.step_key, {})
            for key, value in m.metadata.items():
                meta[key] = getattr(value, "value", None)
    return {"success": success, "total_s": total, "steps": steps, "metadata": metadata}


def _stages(child: dict) -> list[tuple[str, float, float]]:
    rows = []
    for name, step, key in STAGES:
        meta = child["metadata"].get(step, {})
        seconds = meta.get(key) if key else child["steps"].get(step)
        rows.append((name, float(seconds or 0.0), float(meta.get("peak_rss_mb") or 0.0)))
    return rows


def _databases(server: str, label: str) -> tuple[str, str, sa.Engine]:
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    names = [f"bench_{label}_{uuid.uuid4().hex[:8]}" for label in ("crm", "warehouse")]
    with admin.connect() as conn:
        for name in names:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    urls = [admin.url.set(database=n).render_as_string(hide_password=False) for n in names]
    return urls[0], urls[1], admin


def _drop(admin: sa.Engine, *urls: str) -> None:
    with admin.connect() as conn:
        for url in urls:
            name = sa.engine.make_url(url).database
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _copy_seconds_out(url: str) -> float:
    """COPY of every input relation the job reads (its columns only), binary, to nowhere."""
    from psycopg import sql

    from segmentation.crm import REQUIRED

    engine = sa.create_engine(url)
    started = time.perf_counter()
    with engine.connect() as conn:
        cursor = conn.connection.driver_connection.cursor()
        for relation, columns in REQUIRED.items():
            query = sql.SQL("COPY (SELECT {} FROM {}) TO STDOUT (FORMAT binary)").format(
                sql.SQL(", ").join(map(sql.Identifier, columns)), sql.Identifier(relation))
            with cursor.copy(query) as copy:
                for _ in copy:
                    pass
    engine.dispose()
    return time.perf_counter() - started


def _copy_seconds_in(url: str) -> float:
    """COPY of the rows the job wrote, back into empty twins of its tables."""
    from psycopg import sql

    engine = sa.create_engine(url)
    blobs = {}
    with engine.connect() as conn:
        cursor = conn.connection.driver_connection.cursor()
        for table in (*OUTPUT_TABLES, "client_segments"):
            buffer = io.BytesIO()
            # A SELECT: the per-date tables are partitioned, and COPY reads no parent table.
            with cursor.copy(sql.SQL("COPY (SELECT * FROM {}) TO STDOUT (FORMAT binary)").format(
                    sql.Identifier(table))) as copy:
                for block in copy:
                    buffer.write(block)
            blobs[table] = buffer.getvalue()
        for table in blobs:
            cursor.execute(sql.SQL("CREATE TEMP TABLE {} (LIKE {})").format(
                sql.Identifier(f"twin_{table}"), sql.Identifier(table)))
        started = time.perf_counter()
        for table, blob in blobs.items():
            with cursor.copy(sql.SQL("COPY {} FROM STDIN (FORMAT binary)").format(
                    sql.Identifier(f"twin_{table}"))) as copy:
                copy.write(blob)
        seconds = time.perf_counter() - started
        conn.rollback()
    engine.dispose()
    return seconds


def load_crm(url: str, households: int) -> None:
    """In a child of its own: generate the CRM and load it (see `bench_backend`)."""
    from segmentation.demo import generate_demo_crm, write_crm

    frames = generate_demo_crm(households=households, as_of=dt.date.fromisoformat(WEEK))
    write_crm(sa.create_engine(url), frames)


def bench_backend(backend: str, households: int, server: str, workdir: Path) -> dict:
    admin = None
    if backend == "postgresql":
        crm_url, warehouse_url, admin = _databases(server, backend)
    else:
        crm_url = f"sqlite:///{workdir / 'crm.sqlite'}"
        warehouse_url = f"sqlite:///{workdir / 'warehouse.sqlite'}"
    try:
        # The CRM is built in a process of its own: Linux carries a process's peak memory
        # across fork and exec, so a parent that held the generated book would inflate the
        # job's measured peak.
        # Its URL goes through the environment: a password never shows in the process list.
        subprocess.run([sys.executable, "-m", "pipelines.benchmark", "--load",
                        "--households", str(households)],
                       env={**os.environ, "CRM_DATABASE_URL": crm_url}, check=True)
        env = {**os.environ, "CRM_DATABASE_URL": crm_url, "WAREHOUSE_DATABASE_URL": warehouse_url,
               "SEGMENTATION_DATA_DOCS": str(workdir / "data_docs"),
               "DAGSTER_HOME": str(workdir)}
        env.pop("SEGMENTATION_RULES", None)
        (workdir / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        child = subprocess.run([sys.executable, "-m", "pipelines.benchmark", "--child"],
                               env=env, capture_output=True, text=True, check=False)
        if child.returncode != 0 or not child.stdout.strip():
            raise RuntimeError(f"the job failed on {backend}: {child.stderr[-3000:]}")
        report = json.loads(child.stdout.strip().splitlines()[-1])
        if not report["success"]:
            raise RuntimeError(f"the job failed on {backend}")
        floor = None
        if backend == "postgresql":
            floor = _copy_seconds_out(crm_url) + _copy_seconds_in(warehouse_url)
        report["floor_s"] = floor
        return report
    finally:
        if admin is not None:
            _drop(admin, crm_url, warehouse_url)


def _print(backend: str, households: int, report: dict) -> None:
    print(f"\n{backend}: {households} households")
    print(f"  {'stage':<16}{'seconds':>9}{'households/s':>14}{'peak MB':>10}")
    for name, seconds, peak in _stages(report):
        rate = households / seconds if seconds > 0 else float("inf")
        print(f"  {name:<16}{seconds:>9.2f}{rate:>14,.0f}{peak:>10.0f}")
    print(f"  {'total (job)':<16}{report['total_s']:>9.2f}"
          f"{households / report['total_s']:>14,.0f}")
    if report.get("floor_s") is not None:
        print(f"  {'floor (COPY)':<16}{report['floor_s']:>9.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="segmentation benchmark", description=__doc__)
    parser.add_argument("--households", type=int, default=100_000)
    parser.add_argument("--backends", default="postgresql,sqlite")
    parser.add_argument("--server", default=os.environ.get(
        "SEGMENTATION_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
        help="a PostgreSQL server where the benchmark may create and drop databases")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--load", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.load:
        load_crm(os.environ["CRM_DATABASE_URL"], args.households)
        return 0
    if args.child:
        print(json.dumps(run_child(WEEK)))
        return 0
    summary = None
    for backend in args.backends.split(","):
        with tempfile.TemporaryDirectory(prefix="segbench-") as tmp:
            report = bench_backend(backend, args.households, args.server, Path(tmp))
        _print(backend, args.households, report)
        peak = max(p for _, _, p in _stages(report))
        if backend == "postgresql" or summary is None:
            floor = report.get("floor_s")
            ratio = report["total_s"] / floor if floor else float("nan")
            summary = (f"households={args.households} total_s={report['total_s']:.2f} "
                       f"floor_s={floor if floor is not None else float('nan'):.2f} "
                       f"ratio={ratio:.2f} peak_rss_mb={peak:.0f}")
    print()
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
