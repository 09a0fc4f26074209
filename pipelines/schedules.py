"""The weekly schedule: Monday 06:00 in Montreal, segmenting the week that starts that day."""

import dagster as dg

from pipelines.partitions import TIMEZONE

segmentation_weekly_job = dg.define_asset_job(
    "segmentation_weekly_job",
    selection=dg.AssetSelection.all(),
    description="Read the CRM, segment every active household and publish the week.",
)


@dg.schedule(
    job=segmentation_weekly_job,
    cron_schedule="0 6 * * 1",
    execution_timezone=TIMEZONE,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def segmentation_weekly_schedule(context: dg.ScheduleEvaluationContext):
    """Each Monday at 06:00 Montreal time, run the partition of the week starting that day."""
    monday = context.scheduled_execution_time.date().isoformat()
    return dg.RunRequest(run_key=monday, partition_key=monday)
