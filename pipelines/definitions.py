"""Everything Dagster loads: `dagster dev -m pipelines.definitions`."""

import dagster as dg

from pipelines import assets
from pipelines.monitoring import (
    client_segments_fresh,
    freshness_daily_job,
    freshness_daily_schedule,
    segmentation_failure_alert,
)
from pipelines.resources import CrmDatabaseResource, RulesResource, WarehouseResource
from pipelines.schedules import segmentation_weekly_job, segmentation_weekly_schedule

defs = dg.Definitions(
    assets=dg.load_assets_from_modules([assets]),
    asset_checks=[client_segments_fresh],
    jobs=[segmentation_weekly_job, freshness_daily_job],
    schedules=[segmentation_weekly_schedule, freshness_daily_schedule],
    sensors=[segmentation_failure_alert],
    resources={
        "crm": CrmDatabaseResource(),
        "warehouse": WarehouseResource(),
        "rules": RulesResource(),
    },
)
