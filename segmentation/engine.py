"""The tier rules (sections 2 to 4): characteristics, qualifying, assignment, A cap, overrides.

Tiers travel as codes (their rank in `TIERS`, A = 0) and segments as `SEGMENTS` codes; they become
text once, at the end.
"""

from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from segmentation.frames import arrow_text
from segmentation.money import decimal_text
from segmentation.potential import ONE_UP, SIGNAL_LISTS, potential
from segmentation.rules import FIGURES, TIERS, Line, Rules
from segmentation.text import TEXT, text_column

TIER_RANK = {tier: rank for rank, tier in enumerate(TIERS)}  # A is 0, the best
SEGMENTS = [tier + plus for tier in TIERS for plus in ("", "+")]  # code: rank * 2 + has a "+"
# Referrals can chain when a rules file lets them count for A or B; a chain settles quickly.
_MAX_REFERRAL_PASSES = 20


@dataclass(frozen=True)
class Figures:
    """The five figures as plain arrays, read from the profiles once: cents (0 when unknown),
    known, partial; and which households are couples."""

    couple: np.ndarray
    cents: dict[str, np.ndarray]
    known: dict[str, np.ndarray]
    partial: dict[str, np.ndarray]

    @classmethod
    def of(cls, profiles: pd.DataFrame) -> "Figures":
        return cls(couple=(profiles["household_type"] == "couple").to_numpy(dtype=bool),
                   cents={f: profiles[f].to_numpy(dtype="int64", na_value=0) for f in FIGURES},
                   known={f: profiles[f].notna().to_numpy() for f in FIGURES},
                   partial={f: profiles[f"{f}_partial"].to_numpy(dtype=bool) for f in FIGURES})

    @cached_property
    def text(self) -> dict[str, pa.Array]:
        """Each figure as plain decimal text (`'412000.00'`), missing where unknown."""
        return {f: decimal_text(self.cents[f], self.known[f]) for f in self.cents}

    def more_than(self, figure: str, line: np.ndarray) -> np.ndarray:
        # A partial figure is a known lower bound, so "more than" may rely on it.
        return self.known[figure] & (self.cents[figure] > line)

    def less_than(self, figure: str, line: np.ndarray) -> np.ndarray:
        return self.known[figure] & ~self.partial[figure] & (self.cents[figure] < line)


def line_cents(couple: np.ndarray, line: Line, factor: Decimal = Decimal(1)) -> np.ndarray:
    """Each household's line in cents: the couple or the individual one, scaled by `factor`."""
    return np.where(couple, int(line.couple * 100 * factor), int(line.individual * 100 * factor))


def labels(table: list[str] | pa.Array, codes: np.ndarray, index: pd.Index) -> pd.Series:
    """Text by code from a table; code -1 gives a missing value."""
    if not isinstance(table, pa.Array):
        table = pa.array(table, TEXT)
    return text_column(table.take(pa.array(codes, mask=codes < 0)), index)


def characteristics(profiles: pd.DataFrame, figures: Figures, rules: Rules, tier: str,
                    referral: np.ndarray, margin: float = 0.0) -> pd.DataFrame:
    """Which of `tier`'s characteristics each household has (one boolean column each).

    With a margin, every "more than" line is lowered by it: the near-miss test of section 6.
    """
    spec = rules.tiers[tier]
    lowered = Decimal(1) - Decimal(str(margin))
    met = {}
    for figure, line in spec.more_than.items():
        met[f"{figure}_gt"] = figures.more_than(figure, line_cents(figures.couple, line, lowered))
    for figure, line in spec.less_than.items():
        met[f"{figure}_lt"] = figures.less_than(figure, line_cents(figures.couple, line))
    if spec.relationships:
        met["relationship"] = profiles["relationship"].isin(spec.relationships).to_numpy(bool)
    if spec.referred_by:
        met["referral"] = referral
    if spec.occupations:
        held = profiles[[f"occ_{c}" for c in spec.occupations]].to_numpy(dtype=bool)
        met["occupation"] = held.any(axis=1)
    for behaviour in spec.behaviours:
        met[behaviour] = profiles[f"beh_{behaviour}"].to_numpy(dtype=bool)
    return pd.DataFrame(met, index=profiles.index)


@dataclass
class Assessment:
    """Everything the rules decided about the book, one row per household in `segments`."""

    segments: pd.DataFrame
    met: dict[str, pd.DataFrame]  # tier -> characteristic columns
    figures: Figures  # the figures they were decided on


def _assign(counts: dict[str, np.ndarray], rules: Rules) -> tuple[np.ndarray, dict]:
    """Tier codes, and the no-criteria and conflicting-signals flags."""
    qualifies = {t: counts[t] >= rules.tiers[t].needed for t in TIERS}
    tier = np.select([qualifies[t] for t in rules.order], [TIER_RANK[t] for t in rules.order],
                     default=TIER_RANK[rules.fallback])
    flags = {"no_criteria_met": ~np.logical_or.reduce([qualifies[t] for t in TIERS]),
             "conflicting_signals": qualifies["E"] & (qualifies["A"] | qualifies["B"]
                                                      | qualifies["C"])}
    return tier, flags


def _apply_cap(tier: np.ndarray, overridden: np.ndarray, value_rank: np.ndarray,
               rules: Rules) -> np.ndarray:
    """Mark the A households beyond the cap (best by value score stay A).

    The book's rank already orders households by value score, then AUM, then id: the cap's
    order is that ranking restricted to the A households.
    """
    limit = rules.a_cap.limit(len(tier))
    capped = np.zeros(len(tier), dtype=bool)
    candidates = np.flatnonzero((tier == TIER_RANK["A"]) & ~overridden)
    if limit is None or len(candidates) <= limit:
        return capped
    order = candidates[np.argsort(value_rank[candidates], kind="stable")]
    capped[order[limit:]] = True
    return capped


def _locate(keys: pa.Array, ids: pa.Array) -> np.ndarray:
    """Where each of the distinct `keys` sits among the unique `ids` (-1: absent).

    Only the keys are hashed: they are few (referrers, overrides), the ids are the whole book.
    """
    found = pc.index_in(ids, value_set=keys).to_numpy(zero_copy_only=False)
    hit = ~np.isnan(found)
    at = np.full(len(keys), -1)
    at[found[hit].astype(np.int64)] = np.flatnonzero(hit)
    return at


def _referrers(profiles: pd.DataFrame, previous_tiers: pd.Series) -> tuple[np.ndarray,
                                                                           np.ndarray]:
    """Each household's referrer: its position in the book (-1 when not in this run), and
    the code of its last recorded tier (-1 when unknown), for a referrer outside the run."""
    encoded = pc.dictionary_encode(arrow_text(profiles["referred_by_household_id"]))
    codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)
    in_book = _locate(encoded.dictionary, arrow_text(profiles.index))
    before = _locate(encoded.dictionary, arrow_text(previous_tiers.index))
    last_tier = np.full(len(before), -1)
    last_tier[before >= 0] = pd.Index(TIERS).get_indexer(previous_tiers.iloc[before[before >= 0]])
    # A trailing -1 answers for the households without a referrer (code -1).
    return np.append(in_book, -1)[codes], np.append(last_tier, -1)[codes]


def _referrals(referrer_at: np.ndarray, referrer_last_tier: np.ndarray, final_tier: np.ndarray,
               rules: Rules) -> dict[str, np.ndarray]:
    """Per tier: is the household referred by a household of one of the tier's referrer tiers?

    A referrer outside this run (no longer a client) counts with its last recorded tier.
    """
    referrer_tier = np.where(referrer_at >= 0, final_tier[referrer_at], referrer_last_tier)
    return {t: np.isin(referrer_tier, [TIER_RANK[r] for r in rules.tiers[t].referred_by])
            for t in TIERS}


def assess(profiles: pd.DataFrame, scores: pd.DataFrame, overrides: pd.DataFrame,
           rules: Rules, previous_tiers: pd.Series | None = None) -> Assessment:
    """Tiers, flags, cap, overrides and potential for every profiled household."""
    previous_tiers = previous_tiers if previous_tiers is not None else pd.Series(dtype="str")
    index, n = profiles.index, len(profiles)
    override = overrides.drop_duplicates("household_id")
    at = _locate(arrow_text(override["household_id"]), arrow_text(index))
    override, at = override[at >= 0], at[at >= 0]
    overridden = np.zeros(n, dtype=bool)
    overridden[at] = True
    # Validation lets only segment labels through, so every override has a code.
    override_segment = np.full(n, -1)
    override_segment[at] = pd.Index(SEGMENTS).get_indexer(override["tier"])

    figures = Figures.of(profiles)
    value_rank = scores["value_rank"].to_numpy()
    referrer_at, referrer_last_tier = _referrers(profiles, previous_tiers)
    referral = {t: np.zeros(n, dtype=bool) for t in TIERS}
    met = {t: characteristics(profiles, figures, rules, t, referral[t]) for t in TIERS}
    for _ in range(_MAX_REFERRAL_PASSES):
        counts = {t: met[t].to_numpy().sum(axis=1) for t in TIERS}
        tier, flags = _assign(counts, rules)
        capped = _apply_cap(tier, overridden, value_rank, rules)
        tier = np.where(capped, TIER_RANK["B"], tier)
        final_tier = np.where(overridden, override_segment // 2, tier)
        again = _referrals(referrer_at, referrer_last_tier, final_tier, rules)
        if all(np.array_equal(again[t], referral[t]) for t in TIERS):
            break
        referral = again
        for t in TIERS:
            if "referral" in met[t]:
                met[t]["referral"] = referral[t]
    else:
        raise RuntimeError("referral tiers did not settle; check referred_by in the rules")

    margin = rules.potential.near_miss.margin
    near = {t: characteristics(profiles, figures, rules, t, referral[t], margin).to_numpy()
            .sum(axis=1) >= rules.tiers[t].needed for t in ("A", "B")}
    target, signals = potential(tier, profiles, scores, near, capped, rules)

    computed_segment = tier * 2 + (target >= 0)
    segment = np.where(overridden, override_segment, computed_segment)
    has_potential = segment % 2 == 1
    one_up = np.array([TIER_RANK.get(ONE_UP.get(t), -1) for t in TIERS])
    potential_tier = np.where(overridden, one_up[segment // 2], target)
    shown = has_potential & ~overridden

    segments = pd.DataFrame(index=index)
    segments["computed_tier"] = labels(list(TIERS), tier, index)
    segments["computed_segment"] = labels(SEGMENTS, computed_segment, index)
    segments["segment"] = labels(SEGMENTS, segment, index)
    segments["tier"] = labels(list(TIERS), segment // 2, index)
    segments["has_potential"] = has_potential
    segments["potential_tier"] = labels(list(TIERS), np.where(has_potential, potential_tier, -1),
                                        index)
    segments["potential_reasons"] = labels(SIGNAL_LISTS, np.where(shown, signals, -1),
                                           index)
    segments["override_reason"] = labels(arrow_text(override["reason"]), _positions(at, n), index)
    for t in TIERS:
        segments[f"criteria_met_{t.lower()}"] = counts[t].astype(int)
    segments["no_criteria_met"] = flags["no_criteria_met"]
    segments["conflicting_signals"] = flags["conflicting_signals"]
    segments["over_a_cap"] = capped
    segments["overridden"] = overridden
    return Assessment(segments=segments, met=met, figures=figures)


def _positions(at: np.ndarray, n: int) -> np.ndarray:
    """For each of `n` rows, which of the entries placed `at` it holds (-1: none)."""
    out = np.full(n, -1)
    out[at] = np.arange(len(at))
    return out
