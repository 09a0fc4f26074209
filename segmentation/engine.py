"""The tier rules (sections 2 to 4): characteristics, qualifying, assignment, A cap, overrides."""

from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pandas as pd

from segmentation.potential import potential
from segmentation.rules import TIERS, Line, Rules
from segmentation.scoring import rank_order

TIER_RANK = {tier: rank for rank, tier in enumerate(TIERS)}  # A is 0, the best
# Referrals can chain when a rules file lets them count for A or B; a chain settles quickly.
_MAX_REFERRAL_PASSES = 20


def line_cents(profiles: pd.DataFrame, line: Line, factor: Decimal = Decimal(1)) -> pd.Series:
    """Each household's line in cents: the couple or the individual one, scaled by `factor`."""
    couple = int(line.couple * 100 * factor)
    single = int(line.individual * 100 * factor)
    values = np.where(profiles["household_type"].to_numpy() == "couple", couple, single)
    return pd.Series(values, index=profiles.index, dtype="int64")


def characteristics(profiles: pd.DataFrame, rules: Rules, tier: str, referral: pd.Series,
                    margin: float = 0.0) -> pd.DataFrame:
    """Which of `tier`'s characteristics each household has (one boolean column each).

    With a margin, every "more than" line is lowered by it: the near-miss test of section 6.
    """
    spec = rules.tiers[tier]
    lowered = Decimal(1) - Decimal(str(margin))
    met = {}
    for figure, line in spec.more_than.items():
        # A partial figure is a known lower bound, so "more than" may rely on it.
        met[f"{figure}_gt"] = profiles[figure].gt(line_cents(profiles, line, lowered))
    for figure, line in spec.less_than.items():
        below = profiles[figure].lt(line_cents(profiles, line))
        met[f"{figure}_lt"] = below & ~profiles[f"{figure}_partial"]
    if spec.relationships:
        met["relationship"] = profiles["relationship"].isin(spec.relationships)
    if spec.referred_by:
        met["referral"] = referral
    if spec.occupations:
        met["occupation"] = profiles[[f"occ_{c}" for c in spec.occupations]].any(axis=1)
    for behaviour in spec.behaviours:
        met[behaviour] = profiles[f"beh_{behaviour}"]
    frame = pd.DataFrame(met, index=profiles.index)
    return frame.fillna(False).astype(bool)


@dataclass
class Assessment:
    """Everything the rules decided about the book, one row per household in `segments`."""

    segments: pd.DataFrame
    met: dict[str, pd.DataFrame]  # tier -> characteristic columns


def _assign(counts: pd.DataFrame, rules: Rules) -> tuple[pd.Series, pd.DataFrame]:
    qualifies = pd.DataFrame({t: counts[t] >= rules.tiers[t].needed for t in TIERS})
    conditions = [qualifies[t].to_numpy() for t in rules.order]
    tier = pd.Series(np.select(conditions, rules.order, default=rules.fallback),
                     index=counts.index, dtype="str")
    flags = pd.DataFrame(index=counts.index)
    flags["no_criteria_met"] = ~qualifies.any(axis=1)
    flags["conflicting_signals"] = qualifies["E"] & qualifies[["A", "B", "C"]].any(axis=1)
    return tier, flags


def _apply_cap(tier: pd.Series, overridden: pd.Series, scores: pd.DataFrame,
               profiles: pd.DataFrame, rules: Rules) -> pd.Series:
    """Mark the A households beyond the cap (best by value score stay A)."""
    limit = rules.a_cap.limit(len(tier))
    capped = pd.Series(False, index=tier.index)
    candidates = tier.index[(tier == "A") & ~overridden]
    if limit is None or len(candidates) <= limit:
        return capped
    order = rank_order(scores.loc[candidates, "value_score"], profiles.loc[candidates, "aum"],
                       candidates)
    capped[order[limit:]] = True
    return capped


def _referrals(profiles: pd.DataFrame, final_tier: pd.Series, previous_tiers: pd.Series,
               rules: Rules) -> dict[str, pd.Series]:
    """Per tier: is the household referred by a household of one of the tier's referrer tiers?

    A referrer outside this run (no longer a client) counts with its last recorded tier.
    """
    referrer = profiles["referred_by_household_id"]
    known = pd.concat([previous_tiers[~previous_tiers.index.isin(final_tier.index)], final_tier])
    referrer_tier = referrer.map(known)
    return {t: referrer_tier.isin(rules.tiers[t].referred_by) & referrer.notna() for t in TIERS}


def assess(profiles: pd.DataFrame, scores: pd.DataFrame, overrides: pd.DataFrame,
           rules: Rules, previous_tiers: pd.Series | None = None) -> Assessment:
    """Tiers, flags, cap, overrides and potential for every profiled household."""
    previous_tiers = previous_tiers if previous_tiers is not None else pd.Series(dtype="str")
    override = overrides.drop_duplicates("household_id").set_index("household_id")
    override = override.reindex(profiles.index)
    overridden = override["tier"].notna()
    referral = {t: pd.Series(False, index=profiles.index) for t in TIERS}
    for _ in range(_MAX_REFERRAL_PASSES):
        met = {t: characteristics(profiles, rules, t, referral[t]) for t in TIERS}
        counts = pd.DataFrame({t: met[t].sum(axis=1) for t in TIERS})
        tier, flags = _assign(counts, rules)
        capped = _apply_cap(tier, overridden, scores, profiles, rules)
        tier = tier.mask(capped, "B")
        final_tier = override["tier"].str[0].where(overridden, tier)
        again = _referrals(profiles, final_tier, previous_tiers, rules)
        if all(again[t].equals(referral[t]) for t in TIERS):
            break
        referral = again
    else:
        raise RuntimeError("referral tiers did not settle; check referred_by in the rules")

    margin = rules.potential.near_miss.margin
    near = {t: characteristics(profiles, rules, t, referral[t], margin).sum(axis=1)
            >= rules.tiers[t].needed for t in ("A", "B")}
    pot = potential(tier, profiles, scores, near, capped, rules)
    computed_segment = tier + np.where(pot["potential_tier"].notna(), "+", "")

    segments = pd.DataFrame(index=profiles.index)
    segments["computed_tier"] = tier
    segments["computed_segment"] = computed_segment
    override_segment = override["tier"]
    segments["segment"] = override_segment.where(overridden, computed_segment)
    segments["tier"] = segments["segment"].str[0]
    segments["has_potential"] = segments["segment"].str.endswith("+")
    one_up = segments["tier"].map({"B": "A", "C": "B", "D": "B"})
    segments["potential_tier"] = pot["potential_tier"].where(~overridden, one_up).where(
        segments["has_potential"])
    segments["potential_reasons"] = pot["reasons"].where(~overridden & segments["has_potential"])
    segments["override_reason"] = override["reason"].where(overridden)
    for t in TIERS:
        segments[f"criteria_met_{t.lower()}"] = counts[t].astype(int)
    segments["no_criteria_met"] = flags["no_criteria_met"]
    segments["conflicting_signals"] = flags["conflicting_signals"]
    segments["over_a_cap"] = capped
    segments["overridden"] = overridden
    return Assessment(segments=segments, met=met)
