"""Everything Dagster loads: `dagster dev -m pipelines.definitions`.

With $SEGMENTATION_BOOKS naming a books file, one copy of the graph per book (see README,
"Beyond one machine"); without it, the single graph of $CRM_DATABASE_URL.
"""

import dagster as dg

from pipelines import assets
from pipelines.assets import build_assets
from pipelines.books import Book, books_from_env
from pipelines.monitoring import (
    book_freshness_check,
    client_segments_fresh,
    freshness_daily,
    freshness_daily_job,
    freshness_daily_schedule,
    segmentation_failure_alert,
)
from pipelines.resources import (
    CrmDatabaseResource,
    RulesResource,
    WarehouseResource,
    book_resources,
)
from pipelines.schedules import segmentation_weekly_job, segmentation_weekly_schedule


def build_definitions(books: list[Book] | None = None) -> dg.Definitions:
    """The definitions of the books given, else those of the environment's single CRM."""
    if not books:
        return dg.Definitions(
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
    checks = [book_freshness_check(book) for book in books]
    freshness_job, freshness_schedule = freshness_daily(checks)
    return dg.Definitions(
        assets=[a for book in books for a in build_assets(book)],
        asset_checks=checks,
        # Each book's steps depend only on each other: the executor runs books side by side.
        jobs=[segmentation_weekly_job, freshness_job],
        schedules=[segmentation_weekly_schedule, freshness_schedule],
        sensors=[segmentation_failure_alert],
        resources={"rules": RulesResource(),
                   **{k: v for book in books for k, v in book_resources(book).items()}},
    )


defs = build_definitions(books_from_env())
