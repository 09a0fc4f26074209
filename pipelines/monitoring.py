"""Freshness of the published segments, and a notice to operations when a run fails."""

import datetime as dt
import re
from zoneinfo import ZoneInfo

import dagster as dg

from pipelines.books import Book
from pipelines.partitions import TIMEZONE
from pipelines.resources import VAR, WarehouseResource
from segmentation.alerts import Notice, sender_from_env
from segmentation.warehouse import current_as_of

MAX_AGE_DAYS = 8


def age_in_days(as_of: dt.date, now: dt.datetime) -> float:
    """Days since the start of the published week, in the firm's time zone."""
    start = dt.datetime.combine(as_of, dt.time(), ZoneInfo(TIMEZONE))
    return (now - start).total_seconds() / 86400


def freshness(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    """Passed while the published week is at most eight days old."""
    as_of = current_as_of(warehouse.engine())
    if as_of is None:
        return dg.AssetCheckResult(passed=False, metadata={"published_week": "none"})
    age = age_in_days(as_of, dt.datetime.now(ZoneInfo(TIMEZONE)))
    return dg.AssetCheckResult(passed=age <= MAX_AGE_DAYS, metadata={
        "published_week": as_of.isoformat(), "age_days": round(age, 2),
        "max_age_days": MAX_AGE_DAYS})


@dg.asset_check(asset="client_segments", name="client_segments_fresh",
                description=f"client_segments is at most {MAX_AGE_DAYS} days old.")
def client_segments_fresh(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    """Fails when the published week is more than eight days old (a missed Monday run)."""
    return freshness(warehouse)


def book_freshness_check(book: Book) -> dg.AssetChecksDefinition:
    """The freshness check of one book's client_segments, read through its own warehouse."""

    @dg.asset_check(asset=dg.AssetKey([book.name, "client_segments"]),
                    name="client_segments_fresh", required_resource_keys={book.warehouse_key},
                    description=f"{book.name}: client_segments is at most {MAX_AGE_DAYS} days "
                    "old.")
    def fresh(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        """Fails when this book's published week is more than eight days old."""
        return freshness(getattr(context.resources, book.warehouse_key))

    return fresh


def freshness_daily(checks: list[dg.AssetChecksDefinition]):
    """The job evaluating the freshness checks, and its schedule every day at 09:00."""
    job = dg.define_asset_job(
        "freshness_daily_job", selection=dg.AssetSelection.checks(*checks),
        description="Check that the published segments are fresh.")
    schedule = dg.ScheduleDefinition(
        name="freshness_daily_schedule", job=job, cron_schedule="0 9 * * *",
        execution_timezone=TIMEZONE, default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Every day at 09:00 Montreal time, check the segments' freshness.")
    return job, schedule


freshness_daily_job, freshness_daily_schedule = freshness_daily([client_segments_fresh])


def failure_notice(context: dg.RunFailureSensorContext) -> Notice:
    """Job, week, failing steps with their messages, and the data-quality figures of the run."""
    run = context.dagster_run
    week = run.tags.get("dagster/partition", "(no week)")
    lines = [f"The run {run.run_id} of {run.job_name} for the week of {week} failed.", ""]
    for event in context.get_step_failure_events():
        error = event.step_failure_data.error
        message = (error.message if error else "no message").strip().splitlines()[0]
        message = re.sub(r"^[\w.]+(?:Error|Failure|Exception): ", "", message)
        lines.append(f"Failed step: {event.step_key}: {message}")
    records = context.instance.get_records_for_run(
        run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
    for record in records:
        materialization = record.event_log_entry.dagster_event.step_materialization_data
        *book, name = materialization.materialization.asset_key.path
        if name == "household_profiles":
            meta = materialization.materialization.metadata
            figures = {k: meta[k].value for k in ("households", "households_left_out",
                                                  "issues_error", "issues_warning") if k in meta}
            of = f" ({book[0]})" if book else ""
            lines.append(f"Data quality{of}: "
                         + ", ".join(f"{k} {v}" for k, v in figures.items()))
    # A book's steps are named <book>__<asset>.
    failed_books = sorted({e.step_key.split("__")[0] for e in context.get_step_failure_events()
                           if "__" in (e.step_key or "")})
    if failed_books:
        lines += ["", f"Books with a failed step: {', '.join(failed_books)}; each keeps its "
                  "previous week's tables. The other books' steps ran on their own."]
    else:
        lines += ["", "The warehouse keeps the previous week's tables."]
    lines[-1] += " Open the run in the Dagster UI for details."
    return Notice(subject=f"[segmentation] {run.job_name} failed for the week of {week}",
                  body="\n".join(lines))


@dg.run_failure_sensor(name="segmentation_failure_alert",
                       default_status=dg.DefaultSensorStatus.RUNNING)
def segmentation_failure_alert(context: dg.RunFailureSensorContext):
    """Sends a notice for each failed run through the configured sender."""
    sender_from_env(VAR / "alerts.jsonl").send(failure_notice(context))
