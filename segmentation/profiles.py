"""Household profiles: members, holdings, tags and activity rolled up to one row per household."""

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from segmentation.frames import arrow_text, count_by, flag_table, positions_of
from segmentation.rules import (
    BEHAVIOURS,
    ENTREPRENEUR,
    FIGURES,
    MATURE_ENTREPRENEUR,
    TAGS,
    Rules,
)
from segmentation.text import normalize_series, normalize_text
from segmentation.validation import CONTACTS, Issues, Prepared

MEMBERS_EXPECTED = {"individual": 1, "couple": 2}


def occupation_categories(occupations: pd.Series, rules: Rules) -> pd.Series:
    """The taxonomy category of each occupation text (NA when none matches).

    A phrase matches on whole words; categories are tried in the rules' order.
    """
    taxonomy = [(e.category, [f" {normalize_text(p)} " for p in e.phrases])
                for e in rules.occupations]
    codes, uniques = pd.factorize(normalize_series(occupations), use_na_sentinel=True)
    table = pd.array([_category(f" {u} ", taxonomy) for u in uniques], dtype="str")
    return pd.Series(table.take(codes, allow_fill=True), index=occupations.index, dtype="str")


def _category(padded: str, taxonomy: list[tuple[str, list[str]]]) -> str | None:
    for category, phrases in taxonomy:
        if any(phrase in padded for phrase in phrases):
            return category
    return None


def _figure_sum(values: pd.Series, pos: np.ndarray, size: int, expected: np.ndarray):
    """Sum per household of known values; NA when none is known; partial when some are not.

    `pos` places each row on its household (see `frames.positions`); sums stay exact cents.
    """
    cents = values.to_numpy(dtype="int64", na_value=0)
    known_row = values.notna().to_numpy() & (pos >= 0)
    total = np.zeros(size, dtype=np.int64)
    np.add.at(total, pos[known_row], cents[known_row])
    known = count_by(pos, size, known_row)
    total = pd.array(total, dtype="Int64")
    total[known == 0] = pd.NA
    return total, known < expected


def _activity_counts(recent: pd.DataFrame, pos: np.ndarray, index: pd.Index):
    """No-shows and the longest unanswered run per household, from the activities `prepare`
    handed on: the window's no-shows and contacts only (see `validation._counted`)."""
    meeting = (recent["kind"] == "meeting").to_numpy() & (recent["outcome"] == "no_show").to_numpy()
    no_shows = count_by(pos, len(index), meeting)
    contact = recent["kind"].isin(CONTACTS).to_numpy() & (pos >= 0)
    contacts = pa.table({"pos": pos[contact],
                         "at": recent["occurred_at"].to_numpy("datetime64[us]")[contact],
                         "id": arrow_text(recent["activity_id"]).filter(pa.array(contact))})
    order = pc.sort_indices(contacts, sort_keys=[("pos", "ascending"), ("at", "ascending"),
                                                 ("id", "ascending")]).to_numpy()
    return no_shows, _longest_unanswered(
        contacts["pos"].to_numpy()[order],
        (recent["outcome"] == "unanswered").to_numpy()[contact][order], len(index))


def _longest_unanswered(pos: np.ndarray, unanswered: np.ndarray, size: int) -> np.ndarray:
    """Per household, the longest run of unanswered contacts in a row.

    Rows are sorted by household then time; a run starts at an unanswered contact that follows
    an answered one or another household's.
    """
    n = len(pos)
    streak = np.zeros(size, dtype=np.int64)
    if n == 0:
        return streak
    starts = unanswered.copy()
    starts[1:] &= (pos[1:] != pos[:-1]) | ~unanswered[:-1]
    at = np.arange(n)
    run_start = np.maximum.accumulate(np.where(starts, at, 0))
    length = np.where(unanswered, at - run_start + 1, 0)
    np.maximum.at(streak, pos, length)
    return streak


def build_profiles(prepared: Prepared, rules: Rules, as_of: dt.date) -> tuple[pd.DataFrame,
                                                                             pd.DataFrame]:
    """One row per household with its five figures, occupations, behaviours and tags.

    Figures are integer cents; `<figure>_partial` says the figure is a lower bound. Also
    returns data-quality issues found on the way (occupations the taxonomy does not map).
    """
    hh = prepared.households.set_index("household_id")
    index = hh.index
    members, holdings = prepared.members, prepared.holdings
    tags, activities = prepared.tags, prepared.activities
    member_pos, holding_pos, tag_pos, activity_pos = positions_of(
        [members["household_id"], holdings["household_id"], tags["household_id"],
         activities["household_id"]], index)
    n_members = count_by(member_pos, len(index))
    expected = np.maximum(hh["household_type"].map(MEMBERS_EXPECTED).to_numpy(), n_members)

    profile = pd.DataFrame(index=index)
    profile["household_type"] = hh["household_type"]
    profile["relationship"] = hh["relationship"]
    profile["referred_by_household_id"] = hh["referred_by_household_id"]
    profile["members"] = n_members

    is_open = (holdings["status"] == "open").to_numpy()
    for figure, kind, column in (("aum", "investment", "market_value"),
                                 ("premiums", "insurance", "annual_premium")):
        rows = is_open & (holdings["kind"] == kind).to_numpy()
        count = count_by(holding_pos, len(index), rows)
        total, partial = _figure_sum(holdings[column].where(rows), holding_pos, len(index),
                                     count)
        # No holding of the kind is zero; holdings of unknown value only are unknown.
        total[count == 0] = 0
        profile[figure] = total
        # Wholly unknown is not partial: a partial figure is a known lower bound.
        profile[f"{figure}_partial"] = partial & ~total.isna()
    for figure, column in (("savings", "annual_savings"), ("income", "annual_income")):
        total, partial = _figure_sum(members[column], member_pos, len(index), expected)
        profile[figure] = total
        profile[f"{figure}_partial"] = partial & ~total.isna()
    profile["net_worth"] = hh["net_worth"].astype("Int64")
    profile["net_worth_partial"] = False
    profile["partial_figures"] = profile[[f"{f}_partial" for f in FIGURES]].any(axis=1)

    categories = occupation_categories(members["occupation"], rules)
    issues = Issues()
    unmapped = members[categories.isna() & members["occupation"].notna()]
    issues.add("members", unmapped, "occupation", "occupation_mapped", "warning",
               "no occupation characteristic")
    tagged = flag_table(tag_pos, tags["tag"], index, list(TAGS))

    def has_tag(code):
        return tagged[code]

    seasoned = members["business_since"].notna() & (members["business_since"] <= pd.Timestamp(
        as_of - pd.DateOffset(years=rules.behaviour.mature_entrepreneur_years)))
    held_by_member = categories.mask((categories == ENTREPRENEUR) & seasoned, MATURE_ENTREPRENEUR)
    held = flag_table(member_pos, held_by_member, index, rules.occupation_categories)
    for category in rules.occupation_categories:
        profile[f"occ_{category}"] = held[category]
    profile[f"occ_{MATURE_ENTREPRENEUR}"] |= has_tag("mature_entrepreneur")

    no_shows, streak = _activity_counts(activities, activity_pos, index)
    profile["no_show_count"] = no_shows
    profile["unresponsive_count"] = streak
    for code in BEHAVIOURS:
        profile[f"beh_{code}"] = has_tag(code)
    profile["tag_no_show"] = has_tag("no_show")
    profile["tag_unresponsive"] = has_tag("unresponsive")
    profile["beh_no_show"] |= no_shows >= rules.behaviour.missed_meetings
    profile["beh_unresponsive"] |= streak >= rules.behaviour.unanswered_in_a_row
    profile["has_potential_tag"] = has_tag("has_potential")
    return profile, issues.frame()
