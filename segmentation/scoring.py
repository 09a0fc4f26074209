"""Percentile rankings of the five figures, the value score, and the book's ranking."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from segmentation.rules import FIGURES, Rules


def percentile_rank(values: np.ndarray) -> np.ndarray:
    """0-100, 100 for the highest; ties share the average rank; missing (NaN) stays missing."""
    present = np.flatnonzero(~np.isnan(values))
    out = np.full(len(values), np.nan)
    n = len(present)
    if n <= 1:
        out[present] = 100.0
        return out
    # Any sort will do: tied values share their rank, whatever their order among themselves.
    order = present[np.argsort(values[present])]
    ordered = values[order]
    first = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])  # each run of ties
    last = np.r_[first[1:], n] - 1
    # 1-based ranks: a run of ties from `first` to `last` shares their mean.
    shared = (first + last) / 2 + 1
    ranks = np.repeat(shared, last - first + 1)
    out[order] = (ranks - 1) / (n - 1) * 100
    return out


def value_scores(profiles: pd.DataFrame, rules: Rules) -> pd.DataFrame:
    """Per household: each figure's percentile within its household type, the value score
    (weighted mean of the available percentiles), the value percentile and the rank."""
    out = pd.DataFrame(index=profiles.index)
    types, distinct = pd.factorize(profiles["household_type"])
    groups = [types == t for t in range(len(distinct))]
    weighted = available = 0.0
    for figure in FIGURES:
        # Ranking only orders households, so float is exact enough here, unlike the lines.
        values = profiles[figure].to_numpy(dtype="float64", na_value=np.nan)
        percentile = np.full(len(values), np.nan)
        for group in groups:
            percentile[group] = percentile_rank(values[group])
        out[f"{figure}_percentile"] = percentile
        weight = rules.value_weights.get(figure, 0.0)
        known = ~np.isnan(percentile)
        weighted = weighted + np.where(known, percentile, 0.0) * weight
        available = available + known * weight
    # Rounded so that equal scores summed in another order stay equal: ties are broken by the
    # rules (AUM, then id), never by floating-point noise.
    with np.errstate(divide="ignore", invalid="ignore"):
        score = np.round(np.where(available > 0, weighted / available, np.nan), 9)
    out["value_score"] = score
    out["value_percentile"] = percentile_rank(score)
    rank = np.empty(len(score), dtype=np.int64)
    rank[rank_order(score, profiles["aum"], profiles.index)] = np.arange(1, len(score) + 1)
    out["value_rank"] = rank
    return out


def rank_order(score: np.ndarray, aum: pd.Series, ids: pd.Index) -> np.ndarray:
    """Positions of the households, best first: higher score, then higher AUM, then id."""
    table = pa.table({"score": pa.array(score, from_pandas=True),
                      "aum": pa.array(aum.to_numpy(dtype="float64", na_value=np.nan),
                                      from_pandas=True),
                      "id": pa.array(ids.array)})
    order = pc.sort_indices(table, sort_keys=[("score", "descending", "at_end"),
                                              ("aum", "descending", "at_end"),
                                              ("id", "ascending", "at_end")])
    return order.to_numpy()
