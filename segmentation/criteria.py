"""The explanation as facts: one row per characteristic a household meets or nearly meets."""

from decimal import Decimal

import numpy as np
import pandas as pd
import pyarrow as pa

from segmentation.engine import Assessment, line_cents
from segmentation.money import decimal_text
from segmentation.rules import TIERS, Rules, TierRules
from segmentation.text import TEXT, per_distinct, text_column

ACTIVITY_BEHAVIOURS = {"no_show": "missed_meetings", "unresponsive": "unanswered_in_a_row"}


def criteria_rows(profiles: pd.DataFrame, assessment: Assessment, rules: Rules) -> pd.DataFrame:
    """One row per characteristic met, or missed by no more than the near-miss margin.

    `figure` and `threshold` are plain text: amounts as `412000.00`, codes otherwise;
    `partial` says the figure is a lower bound. Rows come household by household (in the
    book's order), then by tier and characteristic.
    """
    figures = assessment.figures
    margin = Decimal(str(rules.potential.near_miss.margin))
    parts = sorted((tier, code) for tier in TIERS for code in rules.tiers[tier].characteristics)
    # Figures as text, by source: each amount, each qualitative figure (occupations per tier).
    sources: dict[str, pa.Array] = dict(figures.text)
    keep, met, partial, source, threshold = [], [], [], [], []
    for tier, code in parts:
        spec, hit = rules.tiers[tier], assessment.met[tier][code].to_numpy()
        met.append(hit)
        if code.endswith(("_gt", "_lt")):
            figure = code[:-3]
            if code.endswith("_gt"):
                line = spec.more_than[figure]
                near = figures.more_than(figure, line_cents(figures.couple, line, 1 - margin))
            else:
                line = spec.less_than[figure]
                near = figures.less_than(figure, line_cents(figures.couple, line, 1 + margin))
            keep.append(hit | near)
            partial.append(figures.partial[figure])
            source.append(figure)
            threshold.append(decimal_text(line_cents(np.array([False, True]), line)))
        else:
            key = f"{tier} {code}" if code == "occupation" else code
            if key not in sources:
                sources[key] = figure_text(profiles, code, spec, rules)
            keep.append(hit)
            partial.append(np.zeros(len(profiles), dtype=bool))
            source.append(key)
            threshold.append(pa.array([threshold_text(code, spec, rules)] * 2, TEXT))

    # Row-major over (household, part): the rows come out in the order the docstring says.
    kept = np.column_stack(keep)
    household = np.repeat(np.arange(len(profiles), dtype=np.int32), kept.sum(axis=1))
    part = np.broadcast_to(np.arange(len(parts), dtype=np.int16), kept.shape)[kept]
    # Thresholds by (part, couple): a qualitative one is the same for both household types.
    threshold_at = part * 2
    threshold_at += figures.couple[household]
    return pd.DataFrame({
        "household_id": text_column(pa.array(profiles.index.array).take(household)),
        "tier": text_column(pa.array([t for t, _ in parts], TEXT).take(part)),
        "characteristic": text_column(pa.array([c for _, c in parts], TEXT).take(part)),
        "figure": text_column(_gather(sources, source, part, household)),
        "threshold": text_column(pa.concat_arrays(threshold).take(threshold_at)),
        "met": np.column_stack(met)[kept],
        "partial": np.column_stack(partial)[kept],
    })


def _gather(sources: dict[str, pa.Array], source: list[str], part: np.ndarray,
            household: np.ndarray) -> pa.Array:
    """Row by row, the value of household `household[i]` in source `source[part[i]]`; a
    source of one value holds it for every household."""
    start = dict(zip(sources, np.cumsum([0] + [len(s) for s in sources.values()]), strict=False))
    offset = np.array([start[s] for s in source], dtype=np.int32)
    per_household = np.array([len(sources[s]) > 1 for s in source], dtype=np.int32)
    at = per_household[part]
    at *= household
    at += offset[part]
    return pa.concat_arrays(list(sources.values())).take(at)


def figure_text(profiles: pd.DataFrame, code: str, spec: TierRules, rules: Rules,
                rows: np.ndarray | None = None) -> pa.Array:
    """What a qualitative characteristic shows, for the households at `rows` (all by default):
    the relationship, the referrer's id, the occupations held (`a|b`), the activity count or
    `tag` when an advisor's tag set it; one value (`tag`) for a behaviour only a tag sets."""
    def column(name: str) -> np.ndarray:
        values = profiles[name].to_numpy()
        return values if rows is None else values[rows]

    if code in ("relationship", "referral"):
        text = pa.array(profiles["relationship" if code == "relationship"
                                 else "referred_by_household_id"].array)
        return text if rows is None else text.take(rows)
    if code == "occupation":
        held = sum(column(f"occ_{c}").astype(np.int64) << i
                   for i, c in enumerate(spec.occupations))
        return per_distinct(lambda m: "|".join(
            c for i, c in enumerate(spec.occupations) if m >> i & 1), held)
    if code in ACTIVITY_BEHAVIOURS:
        # Set by a tag, or by the count of the activity log against the rules' count.
        counted = np.where(column(f"tag_{code}"), -1, column(f"{code}_count"))
        return per_distinct(lambda c: "tag" if c < 0 else str(c), counted)
    return pa.array(["tag"], TEXT)


def threshold_text(code: str, spec: TierRules, rules: Rules) -> str:
    """What a qualitative characteristic is measured against, as text."""
    if code == "relationship":
        return "|".join(spec.relationships)
    if code == "referral":
        return "|".join(spec.referred_by)
    if code == "occupation":
        return "|".join(spec.occupations)
    if code in ACTIVITY_BEHAVIOURS:
        return str(getattr(rules.behaviour, ACTIVITY_BEHAVIOURS[code]))
    return "tag"
