"""The "+" (section 6): which B, C and D households show potential for A or B."""

import numpy as np
import pandas as pd

from segmentation.rules import TIERS, Rules

ONE_UP = {"B": "A", "C": "B", "D": "B"}
SIGNALS = ("advisor_tag", "near_miss", "occupation_step", "value_band", "a_cap")
# The signals shown, as text, by their bit mask (bit i for SIGNALS[i]).
SIGNAL_LISTS = [",".join(s for i, s in enumerate(SIGNALS) if mask >> i & 1)
                for mask in range(1 << len(SIGNALS))]


def band_floors(rules: Rules) -> dict[str, float]:
    """The lowest value percentile inside each tier's target band, counted from the top."""
    floors, above = {}, 0.0
    for tier in TIERS:
        above += rules.targets[tier][1]
        floors[tier] = max(0.0, 100.0 * (1.0 - above))
    return floors


def potential(tier: np.ndarray, profiles: pd.DataFrame, scores: pd.DataFrame,
              near: dict[str, np.ndarray], capped: np.ndarray,
              rules: Rules) -> tuple[np.ndarray, np.ndarray]:
    """Potential tier (A or B, above the household's own) and the signals that showed it.

    `tier` holds tier codes (0 for A); so does the potential tier returned, -1 for none. The
    signals are a bit mask over SIGNALS: `SIGNAL_LISTS` spells it.
    """
    cfg = rules.potential
    eligible = np.isin(tier, [TIERS.index(t) for t in ("B", "C", "D")]) & ~profiles[
        "beh_no_potential"].to_numpy(dtype=bool)
    one_up = np.array([TIERS.index(ONE_UP[t]) if t in ONE_UP else -1 for t in TIERS])
    percentile = scores["value_percentile"].to_numpy(dtype="float64", na_value=np.nan)
    floors = band_floors(rules)
    shown = {}
    for target in ("A", "B"):
        code = TIERS.index(target)
        signals = dict.fromkeys(SIGNALS, False)
        if cfg.advisor_tag:
            signals["advisor_tag"] = profiles["has_potential_tag"].to_numpy(dtype=bool) & (
                one_up[tier] == code)
        if cfg.near_miss.enabled:
            signals["near_miss"] = near[target]
        if cfg.occupation_steps.enabled:
            steps = [c for c, t in cfg.occupation_steps.steps.items() if t == target]
            if steps:
                signals["occupation_step"] = profiles[[f"occ_{c}" for c in steps]].to_numpy(
                    dtype=bool).any(axis=1)
        if cfg.value_band:
            signals["value_band"] = percentile >= floors[target]  # a missing one is not
        if cfg.a_cap and target == "A":
            signals["a_cap"] = capped
        mask = sum(np.asarray(signals[s], dtype=np.int64) << i for i, s in enumerate(SIGNALS))
        shown[target] = np.where((tier > code) & eligible, mask, 0)

    target = np.select([shown["A"] > 0, shown["B"] > 0], [TIERS.index("A"), TIERS.index("B")],
                       default=-1)
    return target, np.where(shown["A"] > 0, shown["A"], shown["B"])
