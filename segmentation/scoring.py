"""Percentile rankings of the five figures, the value score, and the book's ranking."""

import pandas as pd

from segmentation.rules import FIGURES, Rules


def percentile_rank(values: pd.Series) -> pd.Series:
    """0-100, 100 for the highest; ties share the average rank; missing stays missing."""
    ranks = values.rank(method="average")
    n = values.notna().sum()
    if n <= 1:
        return ranks.where(ranks.isna(), 100.0)
    return (ranks - 1) / (n - 1) * 100


def value_scores(profiles: pd.DataFrame, rules: Rules) -> pd.DataFrame:
    """Per household: each figure's percentile within its household type, the value score
    (weighted mean of the available percentiles), the value percentile and the rank."""
    out = pd.DataFrame(index=profiles.index)
    by_type = profiles.groupby("household_type")
    for figure in FIGURES:
        # Ranking only orders households, so float is exact enough here, unlike the lines.
        values = profiles[figure].astype("float64")
        out[f"{figure}_percentile"] = values.groupby(profiles["household_type"]).transform(
            percentile_rank) if len(by_type) else values
    weights = pd.Series({f: rules.value_weights.get(f, 0.0) for f in FIGURES})
    percentiles = out[[f"{f}_percentile" for f in FIGURES]].set_axis(list(FIGURES), axis=1)
    available = percentiles.notna().mul(weights, axis=1).sum(axis=1)
    weighted = percentiles.fillna(0).mul(weights, axis=1).sum(axis=1)
    # Rounded so that equal scores summed in another order stay equal: ties are broken by the
    # rules (AUM, then id), never by floating-point noise.
    out["value_score"] = (weighted / available).where(available > 0).round(9)
    out["value_percentile"] = percentile_rank(out["value_score"])
    order = rank_order(out["value_score"], profiles["aum"], profiles.index)
    out["value_rank"] = pd.Series(range(1, len(order) + 1), index=order).reindex(out.index)
    return out


def rank_order(score: pd.Series, aum: pd.Series, ids: pd.Index) -> pd.Index:
    """Household ids best first: higher score, then higher AUM, then household id."""
    frame = pd.DataFrame({"score": score.to_numpy(), "aum": aum.astype("float64").to_numpy(),
                          "id": ids.to_numpy()}, index=ids)
    frame = frame.sort_values(["score", "aum", "id"], ascending=[False, False, True],
                              na_position="last", kind="mergesort")
    return frame.index
