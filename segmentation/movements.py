"""Week-over-week movements: which households changed segment, and the from/to matrix."""

import datetime as dt

import pandas as pd

from segmentation.rules import TIERS

MIGRATION_COLUMNS = ["household_id", "as_of_date", "previous_as_of_date", "previous_segment",
                     "new_segment", "previous_tier", "new_tier"]


def migrations(current: pd.DataFrame, previous: pd.DataFrame, as_of: dt.date,
               previous_as_of: dt.date | None) -> pd.DataFrame:
    """One row per household whose segment changed since the previous published week.

    Households new to the book have no previous segment; those gone from it no new one.
    """
    if previous_as_of is None:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in MIGRATION_COLUMNS})
    now = current.set_index("household_id")[["segment", "tier"]]
    before = previous.set_index("household_id")[["segment", "tier"]]
    both = now.join(before, how="outer", lsuffix="_new", rsuffix="_previous")
    changed = both["segment_new"].fillna("") != both["segment_previous"].fillna("")
    moved = both[changed]
    return pd.DataFrame({
        "household_id": moved.index.astype("str"),
        "as_of_date": as_of,
        "previous_as_of_date": previous_as_of,
        "previous_segment": moved["segment_previous"].to_numpy(),
        "new_segment": moved["segment_new"].to_numpy(),
        "previous_tier": moved["tier_previous"].to_numpy(),
        "new_tier": moved["tier_new"].to_numpy(),
    })[MIGRATION_COLUMNS]


def tier_matrix(moves: pd.DataFrame) -> pd.DataFrame:
    """Households that changed tier, counted by previous tier (rows) and new tier (columns)."""
    changed = moves[moves["previous_tier"].notna() & moves["new_tier"].notna()
                    & (moves["previous_tier"] != moves["new_tier"])]
    return pd.crosstab(changed["previous_tier"], changed["new_tier"]).reindex(
        index=list(TIERS), columns=list(TIERS), fill_value=0)


def matrix_markdown(matrix: pd.DataFrame) -> str:
    """The from/to matrix as Markdown: rows are last week's tiers, columns this week's."""
    header = "| from \\ to | " + " | ".join(matrix.columns) + " |"
    lines = [header, "|---|" + "---:|" * len(matrix.columns)]
    for tier, row in matrix.iterrows():
        lines.append(f"| {tier} | " + " | ".join(str(int(v)) for v in row) + " |")
    return "\n".join(lines)
