"""The "+" (section 6): which B, C and D households show potential for A or B."""

import numpy as np
import pandas as pd

from segmentation.rules import TIERS, Rules

ONE_UP = {"B": "A", "C": "B", "D": "B"}
SIGNALS = ("advisor_tag", "near_miss", "occupation_step", "value_band", "a_cap")


def band_floors(rules: Rules) -> dict[str, float]:
    """The lowest value percentile inside each tier's target band, counted from the top."""
    floors, above = {}, 0.0
    for tier in TIERS:
        above += rules.targets[tier][1]
        floors[tier] = max(0.0, 100.0 * (1.0 - above))
    return floors


def potential(tier: pd.Series, profiles: pd.DataFrame, scores: pd.DataFrame,
              near: dict[str, pd.Series], capped: pd.Series, rules: Rules) -> pd.DataFrame:
    """Potential tier (A or B, above the household's own) and the signals that showed it."""
    cfg = rules.potential
    eligible = tier.isin(["B", "C", "D"]) & ~profiles["beh_no_potential"]
    floors = band_floors(rules)
    shown = {}
    for target in ("A", "B"):
        above = tier.map(TIERS.index) > TIERS.index(target)
        signals = pd.DataFrame(False, index=tier.index, columns=list(SIGNALS))
        if cfg.advisor_tag:
            signals["advisor_tag"] = profiles["has_potential_tag"] & (tier.map(ONE_UP) == target)
        if cfg.near_miss.enabled:
            signals["near_miss"] = near[target]
        if cfg.occupation_steps.enabled:
            steps = [c for c, t in cfg.occupation_steps.steps.items() if t == target]
            if steps:
                signals["occupation_step"] = profiles[[f"occ_{c}" for c in steps]].any(axis=1)
        if cfg.value_band:
            signals["value_band"] = scores["value_percentile"].ge(floors[target]).fillna(False)
        if cfg.a_cap and target == "A":
            signals["a_cap"] = capped
        shown[target] = signals.astype(bool).mul(above & eligible, axis=0).astype(bool)

    has_a = shown["A"].any(axis=1)
    has_b = shown["B"].any(axis=1)
    potential_tier = pd.Series(np.select([has_a, has_b], ["A", "B"], default=""),
                               index=tier.index, dtype="str").replace("", pd.NA)
    chosen = shown["A"].where(has_a, shown["B"])
    reasons = pd.Series("", index=tier.index, dtype="str")
    for name in SIGNALS:
        reasons += np.where(chosen[name], name + ",", "")
    reasons = reasons.str.rstrip(",")
    return pd.DataFrame({"potential_tier": potential_tier,
                         "reasons": reasons.where(potential_tier.notna())})
