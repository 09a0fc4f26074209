"""The definitions load, and the schedule ticks on Mondays at 06:00 Montreal time."""

import datetime as dt
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from dagster._utils.schedules import cron_string_iterator

from pipelines.definitions import defs
from pipelines.schedules import segmentation_weekly_schedule

MONTREAL = ZoneInfo("America/Montreal")


def test_definitions_load():
    dg.Definitions.validate_loadable(defs)
    job = defs.resolve_job_def("segmentation_weekly_job")
    assert job.partitions_def is not None
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"crm_extract", "household_profiles", "segmented_book", "client_segments",
            "client_segment_history", "segment_distribution"} <= keys


def test_schedule_is_on_by_default():
    assert segmentation_weekly_schedule.default_status == dg.DefaultScheduleStatus.RUNNING


@pytest.mark.parametrize("start", ["2026-02-23", "2026-10-19"])
def test_ticks_on_mondays_at_six_across_clock_changes(start):
    first = dt.datetime.fromisoformat(start).replace(tzinfo=MONTREAL)
    ticks = cron_string_iterator(first.timestamp(), segmentation_weekly_schedule.cron_schedule,
                                 "America/Montreal")
    seen = [next(ticks) for _ in range(6)]
    local = [t.astimezone(MONTREAL) for t in seen]
    assert all(t.weekday() == 0 and (t.hour, t.minute) == (6, 0) for t in local), local
    days = [t.date() for t in local]
    assert len(set(days)) == len(days)
    assert all((b - a).days == 7 for a, b in zip(days, days[1:], strict=False))
    offsets = {t.utcoffset() for t in local}
    assert len(offsets) == 2  # the window spans a clock change


@pytest.mark.parametrize("when", ["2026-03-09T06:00", "2026-11-02T06:00", "2026-11-30T06:00"])
def test_tick_asks_for_the_week_starting_that_monday(when):
    tick = dt.datetime.fromisoformat(when).replace(tzinfo=MONTREAL)
    context = dg.build_schedule_context(scheduled_execution_time=tick,
                                        repository_def=defs.get_repository_def())
    request = segmentation_weekly_schedule.evaluate_tick(context).run_requests[0]
    assert request.partition_key == tick.date().isoformat()
