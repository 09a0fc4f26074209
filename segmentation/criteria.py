"""The explanation as facts: one row per characteristic a household meets or nearly meets."""

from decimal import Decimal

import numpy as np
import pandas as pd

from segmentation.engine import Assessment, line_cents
from segmentation.money import cents_to_decimal_text
from segmentation.rules import TIERS, Rules, TierRules

CRITERIA_COLUMNS = ["household_id", "tier", "characteristic", "figure", "threshold", "met",
                    "partial"]
ACTIVITY_BEHAVIOURS = {"no_show": "missed_meetings", "unresponsive": "unanswered_in_a_row"}


def criteria_rows(profiles: pd.DataFrame, assessment: Assessment, rules: Rules) -> pd.DataFrame:
    """One row per characteristic met, or missed by no more than the near-miss margin.

    `figure` and `threshold` are plain text: amounts as `412000.00`, codes otherwise;
    `partial` says the figure is a lower bound.
    """
    margin = Decimal(str(rules.potential.near_miss.margin))
    parts = []
    for tier in TIERS:
        spec, met = rules.tiers[tier], assessment.met[tier]
        for direction, lines, factor in (("gt", spec.more_than, 1 - margin),
                                         ("lt", spec.less_than, 1 + margin)):
            for figure, line in lines.items():
                value, partial = profiles[figure], profiles[f"{figure}_partial"]
                near_line = line_cents(profiles, line, factor)
                near = value.gt(near_line) if direction == "gt" else value.lt(near_line) & ~partial
                code = f"{figure}_{direction}"
                parts.append(_rows(tier, code, met[code], near.fillna(False).astype(bool),
                                   value, line_cents(profiles, line), partial,
                                   as_text=cents_to_decimal_text))
        for code in met.columns:
            if not code.endswith(("_gt", "_lt")):
                figure, threshold = _qualitative(profiles, code, spec, rules)
                parts.append(_rows(tier, code, met[code], met[code], figure, threshold, False))
    return pd.concat(parts, ignore_index=True)[CRITERIA_COLUMNS]


def _rows(tier, code, met: pd.Series, near: pd.Series, figure, threshold, partial,
          as_text=None):
    """The rows kept (met or near); `as_text` turns the kept figure and line into text, so
    that amounts are formatted for a small share of the book only."""
    keep = (met | near).to_numpy()

    def pick(values, convert=None):
        if not isinstance(values, pd.Series):
            return values
        kept = values[keep]
        return (convert(kept) if convert else kept).to_numpy()

    return pd.DataFrame({
        "household_id": met.index[keep],
        "tier": tier,
        "characteristic": code,
        "figure": pick(figure, as_text),
        "threshold": pick(threshold, as_text),
        "met": met.to_numpy()[keep],
        "partial": pick(partial),
    })


def _qualitative(profiles: pd.DataFrame, code: str, spec: TierRules, rules: Rules):
    if code == "relationship":
        return profiles["relationship"], "|".join(spec.relationships)
    if code == "referral":
        return profiles["referred_by_household_id"], "|".join(spec.referred_by)
    if code == "occupation":
        held = pd.Series("", index=profiles.index, dtype="str")
        for category in spec.occupations:
            held += np.where(profiles[f"occ_{category}"], category + "|", "")
        return held.str.rstrip("|"), "|".join(spec.occupations)
    if code in ACTIVITY_BEHAVIOURS:
        # Set by a tag, or by the count of the activity log against the rules' count.
        counted = profiles[f"{code}_count"].astype(str)
        figure = counted.where(~profiles[f"tag_{code}"], "tag")
        return figure, str(getattr(rules.behaviour, ACTIVITY_BEHAVIOURS[code]))
    return "tag", "tag"
