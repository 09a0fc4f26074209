"""`segmentation`: run a week, build the demo CRM, summarise or explain a published week."""

import argparse
import datetime as dt
import logging
import os
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pandas as pd
import sqlalchemy as sa

from pipelines.partitions import TIMEZONE
from pipelines.resources import DEMO_CRM_URL, VAR, CrmDatabaseResource, WarehouseResource
from segmentation.db import redacted
from segmentation.summary import distribution_text

WEEK_HELP = "the Monday of the week (YYYY-MM-DD); default: the week under way"


def current_week(today: dt.date | None = None) -> str:
    """The partition key of the week under way: its Monday."""
    today = today or dt.datetime.now(tz=ZoneInfo(TIMEZONE)).date()
    return (today - dt.timedelta(days=today.weekday())).isoformat()


def monday(value: str) -> str:
    """An argparse type: a week is named by its Monday, YYYY-MM-DD."""
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD)") from None
    if day.weekday() != 0:
        raise argparse.ArgumentTypeError(f"{value} is a {day:%A}; a week is named by its Monday")
    return value


def run_week(week: str) -> bool:
    """Materialize every asset for `week` in the instance of $DAGSTER_HOME; True on success."""
    from pipelines.definitions import defs

    job = defs.resolve_job_def("segmentation_weekly_job")
    # The run's own log stays in the Dagster UI; the terminal gets the one line that matters.
    quiet = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(partition_key=week, instance=instance,
                                        raise_on_error=False, run_config=quiet)
    if not result.success:
        for event in result.all_events:
            if event.is_step_failure:
                error = event.step_failure_data.error
                message = error.cause.message if error and error.cause else error.message
                message = message.strip().removeprefix(
                    "dagster._core.definitions.events.Failure: ")
                print(f"step {event.step_key} failed: {message}", file=sys.stderr)
        print(f"Run {result.run_id}: see it in the Dagster UI for the full log.",
              file=sys.stderr)
    return result.success


def week_in_range(week: str) -> str | None:
    """Why `week` cannot be run (outside the partitions), or None."""
    from pipelines.partitions import weekly_partitions

    keys = weekly_partitions.get_partition_keys()
    if week not in keys:
        return (f"the week {week} is not a partition: weeks run from {keys[0]} to {keys[-1]} "
                "(the week under way)")
    return None


def summary(week: str) -> str:
    warehouse = WarehouseResource()
    engine = warehouse.engine()
    with engine.connect() as conn:
        dist = pd.read_sql(sa.text("SELECT * FROM segment_distribution WHERE as_of_date = :d "
                                   "ORDER BY tier"), conn, params={"d": week})
        segments = pd.read_sql(sa.text("SELECT segment FROM client_segment_history "
                                       "WHERE as_of_date = :d"), conn, params={"d": week})
        issues = pd.read_sql(sa.text(
            "SELECT severity, COUNT(*) AS n, COUNT(DISTINCT household_id) AS households "
            "FROM data_quality_issues WHERE as_of_date = :d GROUP BY severity"), conn,
            params={"d": week}).set_index("severity")
    left_out = int(issues["households"].get("error", 0))
    warnings = int(issues["n"].get("warning", 0))
    docs = Path(os.environ.get("SEGMENTATION_DATA_DOCS", VAR / "data_docs")) / week / "index.html"
    lines = [
        f"Week of {week}: {int(dist['households'].sum())} households segmented.",
        "",
        distribution_text(dist, segments["segment"]),
        "",
        f"Data quality: {left_out} households left out for errors, {warnings} warnings "
        "(table data_quality_issues)",
        f"  output checks: {docs}",
        f"Warehouse: {warehouse.describe()}",
        "  tables: client_segments, client_segment_history, client_segment_criteria, "
        "segment_distribution, segment_migrations, data_quality_issues, data_quality_runs",
    ]
    return "\n".join(lines)


def _cmd_demo(args) -> int:
    from segmentation.demo import build_demo_crm

    if os.environ.get("CRM_DATABASE_URL"):
        print("CRM_DATABASE_URL is set: the demo only builds its own SQLite CRM; unset it.",
              file=sys.stderr)
        return 2
    week = args.week or current_week()
    counts = build_demo_crm(DEMO_CRM_URL, households=args.households,
                            as_of=dt.date.fromisoformat(week))
    print(f"Demo CRM: {redacted(DEMO_CRM_URL)} ({counts['households']} households)")
    return _cmd_run(args, week)


def _cmd_run(args, week: str | None = None) -> int:
    week = week or args.week or current_week()
    problem = week_in_range(week)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    print(f"Segmenting the week of {week} from {CrmDatabaseResource().describe()} ...")
    if not run_week(week):
        print(f"The run for {week} failed; the warehouse keeps its previous contents.",
              file=sys.stderr)
        return 1
    print()
    print(summary(week))
    print()
    print("See it in the Dagster UI:  DAGSTER_HOME=$PWD .venv/bin/dagster dev "
          "-m pipelines.definitions   (then open http://127.0.0.1:3000)")
    return 0


def _cmd_explain(args) -> int:
    from segmentation.explain import explain_household
    from segmentation.rules import load_rules
    from segmentation.warehouse import published_household

    week = dt.date.fromisoformat(args.week) if args.week else None
    found = published_household(WarehouseResource().engine(), args.household_id, week)
    if found is None:
        when = f"the week of {args.week}" if args.week else "any published week"
        print(f"household {args.household_id} has no published segment for {when}",
              file=sys.stderr)
        return 1
    segment, criteria = found
    rules = load_rules()
    print(explain_household(segment, criteria, rules, args.lang))
    if segment.get("rules_version") != rules.digest:
        print(f"note: published under rules {segment.get('rules_version')}; the counts "
              f"needed above are those of the rules in force now ({rules.digest})",
              file=sys.stderr)
    return 0


def _cmd_dictionary(args) -> int:
    from schemas.dictionary import render_dictionary

    text = render_dictionary()
    if args.output:
        Path(args.output).write_text(text, "utf-8")
        print(f"wrote {args.output}")
    else:
        print(text, end="")
    return 0


def _cmd_backfill(args) -> int:
    start, end = dt.date.fromisoformat(args.start), dt.date.fromisoformat(args.end)
    if end < start:
        print("--to comes before --from", file=sys.stderr)
        return 2
    # Oldest first: each week's referrals and movements read the week before it.
    week = start
    while week <= end:
        if _cmd_run(args, week.isoformat()) != 0:
            return 1
        week += dt.timedelta(days=7)
    print("Weeks published after this range still compare with the weeks before the "
          "backfill: re-run the newest week to refresh its movements (segment_migrations).")
    return 0


def _cmd_summary(args) -> int:
    from segmentation.warehouse import published_weeks

    week = args.week or current_week()
    weeks = published_weeks(WarehouseResource().engine())
    if week not in weeks:
        latest = f"; the latest published is {weeks[-1]}" if weeks else "; none is published"
        print(f"the week {week} is not published{latest}", file=sys.stderr)
        return 1
    print(summary(week))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["benchmark"]:
        from pipelines.benchmark import main as benchmark

        return benchmark(argv[1:])
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    VAR.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("DAGSTER_HOME", str(VAR.parent))
    Path(os.environ["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
    parser = argparse.ArgumentParser(prog="segmentation", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="build the demo CRM, then run the week on it")
    demo.add_argument("--households", type=int, default=5000)
    demo.add_argument("--week", type=monday, help=WEEK_HELP)
    run = sub.add_parser("run", help="run the weekly job for one week on the configured CRM")
    run.add_argument("--week", type=monday, help=WEEK_HELP)
    summ = sub.add_parser("summary", help="print a published week's distribution")
    summ.add_argument("--week", type=monday)
    explain = sub.add_parser("explain", help="why a household is in its segment")
    explain.add_argument("household_id")
    explain.add_argument("--week", type=monday, help="default: its latest published week")
    explain.add_argument("--lang", choices=["fr", "en"], help="default: the rules' language")
    dictionary = sub.add_parser("dictionary", help="print the warehouse data dictionary")
    dictionary.add_argument("--output", help="write it to this file instead")
    backfill = sub.add_parser("backfill", help="run every week from one Monday to another")
    backfill.add_argument("--from", dest="start", type=monday, required=True)
    backfill.add_argument("--to", dest="end", type=monday, required=True)
    sub.add_parser("benchmark", help="time the job end to end on generated books "
                   "(see segmentation benchmark --help)")
    args = parser.parse_args(argv)
    handler = {"demo": _cmd_demo, "run": _cmd_run, "summary": _cmd_summary,
               "explain": _cmd_explain, "dictionary": _cmd_dictionary,
               "backfill": _cmd_backfill}[args.command]
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
