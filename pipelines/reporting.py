"""Data-quality facts shaped for the Dagster UI: per-relation checks, samples, unmapped values."""

import dagster as dg
import pandas as pd

from segmentation.crm import RELATIONS
from segmentation.movements import matrix_markdown, tier_matrix
from segmentation.summary import distribution_markdown

SAMPLE_ROWS = 10


def issue_sample(issues: pd.DataFrame, rows: int = SAMPLE_ROWS) -> str:
    """A few failing records as Markdown: ids, column, check and value; never a name."""
    if issues is None or issues.empty:
        return "none"
    columns = ["source", "record_id", "column", "check", "value", "severity", "action"]
    return issues[columns].head(rows).to_markdown(index=False)


def unmapped_table(issues: pd.DataFrame, column: str) -> str:
    """Spellings the vocabulary or taxonomy does not map, with their counts, most common first."""
    checks = {"occupation": "occupation_mapped", "tag": "known_code"}
    rows = issues[(issues["column"] == column) & (issues["check"] == checks[column])]
    if rows.empty:
        return "none"
    counts = rows["value"].value_counts().rename_axis(column).reset_index(name="records")
    return counts.to_markdown(index=False)


def issue_checks(issues: pd.DataFrame):
    """One asset check result per CRM relation: failed (error) when records were left out,
    failed as a warning when records were used with a problem."""
    for relation in RELATIONS:
        mine = issues[issues["source"] == relation]
        errors = int((mine["severity"] == "error").sum())
        warnings = int((mine["severity"] == "warning").sum())
        yield dg.AssetCheckResult(
            check_name=f"{relation}_records_valid",
            passed=errors == 0 and warnings == 0,
            severity=dg.AssetCheckSeverity.ERROR if errors else dg.AssetCheckSeverity.WARN,
            metadata={
                "errors": errors,
                "warnings": warnings,
                "by_check": dg.MetadataValue.md(
                    mine.groupby(["column", "check", "severity"]).size()
                    .rename("records").reset_index().to_markdown(index=False)
                    if len(mine) else "none"),
                "sample": dg.MetadataValue.md(issue_sample(mine)),
            },
        )


def weekly_story(checked, book) -> dict:
    """What operations read on client_segments each week; numbers plot across weeks."""
    result, moves = checked.result, checked.migrations
    segments = result.segments
    matrix = tier_matrix(moves)
    tier_moves = int(matrix.to_numpy().sum())
    expired = int((book.issues["check"] == "override_not_expired").sum())
    story = {
        "distribution": dg.MetadataValue.md(distribution_markdown(result.distribution)),
        "households": len(segments),
        "households_moved_tier": tier_moves,
        "households_changed_segment": len(moves),
        "tier_moves": dg.MetadataValue.md(matrix_markdown(matrix)),
        "overrides_in_force": int(segments["override_reason"].notna().sum()),
        "overrides_expired": expired,
        "households_left_out": book.prepared.left_out,
        "rules_version": str(segments["rules_version"].iloc[0]) if len(segments) else "",
    }
    for row in result.distribution.itertuples():
        story[f"share_{row.tier}"] = float(row.share)
    return story
