"""`segmentation`: run a week, build the demo CRM, summarise or explain a published week.

With $SEGMENTATION_BOOKS naming a books file, `run`, `backfill` and `summary` cover every book,
or the one named by `--book`; `explain` needs `--book`; `demo` and `benchmark` refuse.
"""

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

from pipelines.assets import data_docs_dir
from pipelines.books import BOOKS_ENV, Book, BooksError, books_from_env, selected_books
from pipelines.partitions import TIMEZONE
from pipelines.resources import DEMO_CRM_URL, VAR, crm_of, warehouse_of
from segmentation.db import redacted
from segmentation.summary import distribution_text

WEEK_HELP = "the Monday of the week (YYYY-MM-DD); default: the week under way"
BOOK_HELP = f"only this book of the file ${BOOKS_ENV} names; default: every book"


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


def run_week(week: str, book: Book | None = None) -> tuple[bool, set[str | None]]:
    """Materialize `week` in the instance of $DAGSTER_HOME: every book, or only `book`.

    Returns whether the run succeeded and the names of the books it published (None stands for
    the single CRM). The run is in process, one step after another; the schedule's runs use
    the job's executor.
    """
    from pipelines.definitions import build_definitions

    defs = build_definitions(books_from_env())
    job = defs.resolve_job_def("segmentation_weekly_job")
    keys = None
    if book:
        keys = [k for k in defs.resolve_asset_graph().get_all_asset_keys()
                if k.path[0] == book.name]
    # The run's own log stays in the Dagster UI; the terminal gets the one line that matters.
    quiet = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(partition_key=week, instance=instance,
                                        raise_on_error=False, run_config=quiet,
                                        asset_selection=keys)
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
    published = {(key.path[0] if len(key.path) > 1 else None)
                 for key in (e.asset_key for e in result.get_asset_materialization_events())
                 if key.path[-1] == "client_segment_history"}
    return result.success, published


def week_in_range(week: str) -> str | None:
    """Why `week` cannot be run (outside the partitions), or None."""
    from pipelines.partitions import weekly_partitions

    keys = weekly_partitions.get_partition_keys()
    if week not in keys:
        return (f"the week {week} is not a partition: weeks run from {keys[0]} to {keys[-1]} "
                "(the week under way)")
    return None


def summary(week: str, book: Book | None = None) -> str:
    from segmentation.warehouse import (
        client_segment_history,
        data_quality_issues,
        segment_distribution,
    )

    warehouse = warehouse_of(book)
    engine = warehouse.engine()
    day = dt.date.fromisoformat(week)
    dist_t, hist_t, issues_t = segment_distribution, client_segment_history, data_quality_issues
    # Table objects, not SQL text: the engine's schema_translate_map puts them in the book's
    # (or $WAREHOUSE_SCHEMA's) schema.
    with engine.connect() as conn:
        dist = pd.read_sql(sa.select(dist_t).where(dist_t.c.as_of_date == day)
                           .order_by(dist_t.c.tier), conn)
        segments = pd.read_sql(sa.select(hist_t.c.segment).where(hist_t.c.as_of_date == day),
                               conn)
        issues = pd.read_sql(
            sa.select(issues_t.c.severity, sa.func.count().label("n"),
                      sa.func.count(sa.distinct(issues_t.c.household_id)).label("households"))
            .where(issues_t.c.as_of_date == day).group_by(issues_t.c.severity),
            conn).set_index("severity")
    left_out = int(issues["households"].get("error", 0))
    warnings = int(issues["n"].get("warning", 0))
    docs = data_docs_dir(week, book) / "index.html"
    lines = [
        f"{f'Book {book.name}, w' if book else 'W'}eek of {week}: "
        f"{int(dist['households'].sum())} households segmented.",
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

    if os.environ.get(BOOKS_ENV):
        print(f"{BOOKS_ENV} is set: the demo builds and segments one SQLite CRM; unset it.",
              file=sys.stderr)
        return 2
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
    try:
        books = selected_books(getattr(args, "book", None))
    except BooksError as exc:
        print(exc, file=sys.stderr)
        return 2
    for book in books:
        try:
            source = crm_of(book).describe()
        except ValueError as exc:
            source = f"(unknown: {exc})"
        whose = f"book {book.name}, " if book else ""
        print(f"Segmenting {whose}the week of {week}, from {source} ...")
    alone = books[0] if len(books) == 1 else None
    succeeded, published = run_week(week, alone)
    for book in books:
        if (book.name if book else None) in published:
            print()
            print(summary(week, book))
    if not succeeded:
        print(f"The run for {week} failed; the warehouse keeps its previous contents"
              + (" for each book with a failed step." if books != [None] else "."),
              file=sys.stderr)
        return 1
    print()
    print("See it in the Dagster UI:  DAGSTER_HOME=$PWD .venv/bin/dagster dev "
          "-m pipelines.definitions   (then open http://127.0.0.1:3000)")
    return 0


def _cmd_explain(args) -> int:
    from segmentation.explain import explain_household
    from segmentation.rules import load_rules
    from segmentation.warehouse import published_household

    try:
        books = selected_books(args.book)
    except BooksError as exc:
        print(exc, file=sys.stderr)
        return 2
    if len(books) > 1:
        print("with a books file, name the household's book with --book ("
              + ", ".join(b.name for b in books) + ")", file=sys.stderr)
        return 2
    week = dt.date.fromisoformat(args.week) if args.week else None
    found = published_household(warehouse_of(books[0]).engine(), args.household_id, week)
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
    try:
        books = selected_books(args.book)
    except BooksError as exc:
        print(exc, file=sys.stderr)
        return 2
    status = 0
    for book in books:
        weeks = published_weeks(warehouse_of(book).engine())
        if week not in weeks:
            latest = f"; the latest published is {weeks[-1]}" if weeks else "; none is published"
            of = f"{book.name}: " if book else ""
            print(f"{of}the week {week} is not published{latest}", file=sys.stderr)
            status = 1
            continue
        print(summary(week, book))
    return status


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["benchmark"]:
        from pipelines.benchmark import main as benchmark

        if os.environ.get(BOOKS_ENV):
            print(f"{BOOKS_ENV} is set: the benchmark times one book on databases of its own; "
                  "unset it.", file=sys.stderr)
            return 2
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
    run.add_argument("--book", help=BOOK_HELP)
    summ = sub.add_parser("summary", help="print a published week's distribution")
    summ.add_argument("--week", type=monday)
    summ.add_argument("--book", help=BOOK_HELP)
    explain = sub.add_parser("explain", help="why a household is in its segment")
    explain.add_argument("household_id")
    explain.add_argument("--week", type=monday, help="default: its latest published week")
    explain.add_argument("--lang", choices=["fr", "en"], help="default: the rules' language")
    explain.add_argument("--book", help="the household's book (needed with a books file)")
    dictionary = sub.add_parser("dictionary", help="print the warehouse data dictionary")
    dictionary.add_argument("--output", help="write it to this file instead")
    backfill = sub.add_parser("backfill", help="run every week from one Monday to another")
    backfill.add_argument("--from", dest="start", type=monday, required=True)
    backfill.add_argument("--to", dest="end", type=monday, required=True)
    backfill.add_argument("--book", help=BOOK_HELP)
    sub.add_parser("benchmark", help="time the job end to end on generated books "
                   "(see segmentation benchmark --help)")
    args = parser.parse_args(argv)
    handler = {"demo": _cmd_demo, "run": _cmd_run, "summary": _cmd_summary,
               "explain": _cmd_explain, "dictionary": _cmd_dictionary,
               "backfill": _cmd_backfill}[args.command]
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
