"""Weekly partitions keyed by the Monday that starts the week."""

import dagster as dg

TIMEZONE = "America/Montreal"

weekly_partitions = dg.WeeklyPartitionsDefinition(
    start_date="2025-01-06",
    day_offset=1,  # weeks start on Monday
    timezone=TIMEZONE,
    fmt="%Y-%m-%d",
    end_offset=1,  # the week under way is a partition too: Monday's run segments it
)
