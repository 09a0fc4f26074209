"""Segment a whole book: from the CRM extract to the frames the warehouse receives."""

import dataclasses
import datetime as dt
import logging
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from schemas.profiles import HouseholdProfiles
from segmentation.criteria import criteria_rows
from segmentation.crm import CrmExtract
from segmentation.engine import assess, labels
from segmentation.explain import reasons
from segmentation.frames import member_of
from segmentation.profiles import build_profiles
from segmentation.rules import TIERS, Rules
from segmentation.scoring import value_scores
from segmentation.text import text_column
from segmentation.validation import Prepared, prepare

log = logging.getLogger(__name__)

SEGMENT_COLUMNS = [
    "household_id", "as_of_date", "segment", "tier", "has_potential", "potential_tier",
    "computed_segment", "override_reason", "potential_signals", "household_type",
    "aum", "insurance_premiums", "annual_savings", "annual_income", "net_worth",
    "value_score", "value_percentile", "value_rank",
    "criteria_met_a", "criteria_met_b", "criteria_met_c", "criteria_met_d", "criteria_met_e",
    "flags", "reasons", "rules_version", "run_id",
]
FLAG_ORDER = ("no_criteria_met", "conflicting_signals", "over_a_cap", "partial_figures",
              "override", "expired_override")
_AMOUNTS = {"aum": "aum", "premiums": "insurance_premiums", "savings": "annual_savings",
            "income": "annual_income", "net_worth": "net_worth"}


class UntrustworthyRunError(RuntimeError):
    """The input is too broken to publish a segmentation from; the message says why."""

    def __init__(self, message: str, issues: pd.DataFrame | None = None):
        super().__init__(message)
        self.issues = issues


@dataclass
class ProfiledBook:
    """The households that can be segmented, profiled, with what was wrong with the input."""

    prepared: Prepared
    profiles: pd.DataFrame
    issues: pd.DataFrame  # data_quality_issues columns (without run id and date)
    seconds: dict[str, float] = field(default_factory=dict)  # validate, profile


@dataclass
class BookResult:
    """A segmented book, ready to publish."""

    segments: pd.DataFrame  # client_segments columns, amounts as decimal text
    criteria: pd.DataFrame  # client_segment_criteria columns
    distribution: pd.DataFrame  # segment_distribution columns


def check_left_out(prepared: Prepared, rules: Rules) -> None:
    """Fail when more than the configured share of active households cannot be segmented."""
    limit = rules.quality.max_left_out_share
    if prepared.in_scope == 0:
        raise UntrustworthyRunError(
            "the CRM holds no active household: nothing to segment, so nothing is published",
            issues=prepared.issues)
    if prepared.left_out_share > limit:
        raise UntrustworthyRunError(
            f"{prepared.left_out} of {prepared.in_scope} active households "
            f"({prepared.left_out_share:.1%}) could not be segmented, more than the "
            f"{limit:.1%} allowed (quality.max_left_out_share)",
            issues=prepared.issues)


def profile_book(extract: CrmExtract, as_of: dt.date, rules: Rules) -> ProfiledBook:
    """Validate every relation and roll the usable records up into household profiles."""
    started = time.perf_counter()
    prepared = prepare(extract, rules, as_of)
    check_left_out(prepared, rules)
    validated = time.perf_counter()
    profiles, profile_issues = build_profiles(prepared, rules, as_of)
    # The hand-off to the rules is checked too: a failure here is a bug, not bad input.
    HouseholdProfiles.validate(profiles, lazy=True)
    issues = pd.concat([prepared.issues, profile_issues], ignore_index=True)
    # The profiles hold what the rules need from members, holdings, tags and activities; the
    # rows themselves (most of a large book's memory) are not kept.
    prepared = dataclasses.replace(
        prepared, members=prepared.members.iloc[:0], holdings=prepared.holdings.iloc[:0],
        activities=prepared.activities.iloc[:0], tags=prepared.tags.iloc[:0])
    seconds = {"validate": validated - started, "profile": time.perf_counter() - validated}
    return ProfiledBook(prepared=prepared, profiles=profiles, issues=issues, seconds=seconds)


def segment_book(book: ProfiledBook, as_of: dt.date, rules: Rules, *,
                 previous_tiers: pd.Series | None = None, run_id: str = "",
                 language: str | None = None) -> BookResult:
    """Score and segment every profiled household, with its explanation."""
    profiles, prepared = book.profiles, book.prepared
    scores = value_scores(profiles, rules)
    assessment = assess(profiles, scores, prepared.overrides, rules, previous_tiers)
    criteria = criteria_rows(profiles, assessment, rules)

    seg = assessment.segments
    expired = book.issues.loc[book.issues["check"] == "override_not_expired", "household_id"]
    seg["expired_override"] = member_of(seg.index, expired.dropna().unique())
    seg["partial_figures"] = profiles["partial_figures"]
    seg["override"] = seg["overridden"]
    seg["household_type"] = profiles["household_type"]
    seg["reasons"] = reasons(assessment, profiles, rules, language)

    # Best first: row i is the household ranked i + 1.
    order = np.empty(len(seg), dtype=np.int64)
    order[scores["value_rank"].to_numpy() - 1] = np.arange(len(seg))
    out = pd.DataFrame({"household_id": seg.index.take(order), "as_of_date": as_of})
    for column in ("segment", "tier", "has_potential", "potential_tier", "computed_segment",
                   "override_reason"):
        out[column] = seg[column].array.take(order)
    out["potential_signals"] = seg["potential_reasons"].array.take(order)
    out["household_type"] = profiles["household_type"].array.take(order)
    for figure, column in _AMOUNTS.items():
        out[column] = text_column(assessment.figures.text[figure].take(order))
    for column in ("value_score", "value_percentile", "value_rank"):
        out[column] = scores[column].to_numpy()[order]
    for t in TIERS:
        out[f"criteria_met_{t.lower()}"] = seg[f"criteria_met_{t.lower()}"].to_numpy()[order]
    # The flags raised, as a bit mask (bit i for FLAG_ORDER[i]), spelled from a small table.
    flags = sum(seg[flag].to_numpy(dtype=np.int64) << i for i, flag in enumerate(FLAG_ORDER))
    spelled = [",".join(f for i, f in enumerate(FLAG_ORDER) if mask >> i & 1)
               for mask in range(1 << len(FLAG_ORDER))]
    out["flags"] = labels(spelled, flags[order], out.index)
    out["reasons"] = seg["reasons"].array.take(order)
    out["rules_version"] = rules.digest
    out["run_id"] = run_id
    out = out[SEGMENT_COLUMNS]

    criteria.insert(1, "as_of_date", as_of)
    log.info("segmented %d households", len(out))
    return BookResult(segments=out, criteria=criteria,
                      distribution=distribution(out, as_of, rules))


def distribution(segments: pd.DataFrame, as_of: dt.date, rules: Rules) -> pd.DataFrame:
    """Households and share per tier beside the target band."""
    counts = segments["tier"].value_counts().reindex(list(TIERS), fill_value=0)
    total = int(counts.sum())
    frame = pd.DataFrame({
        "as_of_date": as_of,
        "tier": list(TIERS),
        "households": counts.to_numpy().astype(int),
        "share": (counts / total).to_numpy() if total else 0.0,
        "target_min": [rules.targets[t][0] for t in TIERS],
        "target_max": [rules.targets[t][1] for t in TIERS],
    })
    frame["within_target"] = frame["share"].between(frame["target_min"], frame["target_max"])
    return frame
