"""Everything Dagster loads: `dagster dev -m pipelines.definitions`."""

import dagster as dg

from pipelines import assets
from pipelines.resources import CrmDatabaseResource, RulesResource, WarehouseResource
from pipelines.schedules import segmentation_weekly_job, segmentation_weekly_schedule

defs = dg.Definitions(
    assets=dg.load_assets_from_modules([assets]),
    jobs=[segmentation_weekly_job],
    schedules=[segmentation_weekly_schedule],
    resources={
        "crm": CrmDatabaseResource(),
        "warehouse": WarehouseResource(),
        "rules": RulesResource(),
    },
)
