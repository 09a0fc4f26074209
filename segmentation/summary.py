"""Short human summaries of a published week: the distribution beside its target bands."""

import pandas as pd


def distribution_markdown(distribution: pd.DataFrame) -> str:
    """The distribution as a Markdown table, one tier a row, with its target band."""
    lines = ["| tier | households | share | target | within |", "|---|---:|---:|---|---|"]
    for row in distribution.itertuples():
        lines.append(
            f"| {row.tier} | {row.households} | {row.share:.1%} | "
            f"{row.target_min:.0%}–{row.target_max:.0%} | {'yes' if row.within_target else 'NO'} |")
    return "\n".join(lines)


def distribution_text(distribution: pd.DataFrame, segments: pd.Series | None = None) -> str:
    """The distribution as plain text for a terminal."""
    lines = [f"{'tier':<6}{'households':>11}{'share':>9}   target     "]
    for row in distribution.itertuples():
        flag = "" if row.within_target else "  <- outside the target band"
        lines.append(f"{row.tier:<6}{row.households:>11}{row.share:>9.1%}   "
                     f"{row.target_min:>4.0%}–{row.target_max:<4.0%}{flag}")
    if segments is not None:
        counts = segments.value_counts().sort_index()
        lines.append("segments: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return "\n".join(lines)
