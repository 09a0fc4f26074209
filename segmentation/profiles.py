"""Household profiles: members, holdings, tags and activity rolled up to one row per household."""

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from segmentation.frames import flag_table
from segmentation.rules import (
    BEHAVIOURS,
    ENTREPRENEUR,
    FIGURES,
    MATURE_ENTREPRENEUR,
    TAGS,
    Rules,
)
from segmentation.text import normalize_series, normalize_text
from segmentation.validation import Issues, Prepared

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


def _figure_sum(values: pd.Series, keys: pd.Series, index: pd.Index, expected: pd.Series):
    """Sum per household of known values; NA when none is known; partial when some are not."""
    frame = pd.DataFrame({"key": keys.to_numpy(), "value": values.to_numpy()})
    grouped = frame.groupby("key")["value"]
    total = grouped.sum(min_count=1).reindex(index)
    known = grouped.count().reindex(index, fill_value=0)
    return total.astype("Int64"), known < expected


def window_bounds(as_of: dt.date, rules: Rules) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The activity window in UTC: [as-of minus the window, as-of) at midnight, firm time."""
    zone = ZoneInfo(rules.timezone)
    end = pd.Timestamp(dt.datetime.combine(as_of, dt.time(), zone))
    start = pd.Timestamp(dt.datetime.combine(
        as_of - pd.DateOffset(months=rules.behaviour.window_months), dt.time(), zone))
    return start.tz_convert("UTC"), end.tz_convert("UTC")


def _activity_counts(activities: pd.DataFrame, as_of: dt.date, rules: Rules, index: pd.Index):
    start, end = window_bounds(as_of, rules)
    recent = activities[(activities["occurred_at"] >= start) & (activities["occurred_at"] < end)]
    no_shows = (recent[(recent["kind"] == "meeting") & (recent["outcome"] == "no_show")]
                .groupby("household_id").size().reindex(index, fill_value=0))
    contacts = recent[recent["kind"].isin(["email", "call", "text"])].sort_values(
        ["household_id", "occurred_at", "activity_id"])
    unanswered = contacts["outcome"].eq("unanswered")
    # Each answered contact starts a new run; the longest run of unanswered ones is the streak.
    run = (~unanswered).groupby(contacts["household_id"]).cumsum()
    streak = (unanswered.groupby([contacts["household_id"], run]).sum()
              .groupby(level=0).max().reindex(index, fill_value=0))
    return no_shows.astype(int), streak.astype(int)


def build_profiles(prepared: Prepared, rules: Rules, as_of: dt.date) -> tuple[pd.DataFrame,
                                                                             pd.DataFrame]:
    """One row per household with its five figures, occupations, behaviours and tags.

    Figures are integer cents; `<figure>_partial` says the figure is a lower bound. Also
    returns data-quality issues found on the way (occupations the taxonomy does not map).
    """
    hh = prepared.households.set_index("household_id")
    index = hh.index
    members, holdings = prepared.members, prepared.holdings
    n_members = members.groupby("household_id").size().reindex(index, fill_value=0)
    expected = np.maximum(hh["household_type"].map(MEMBERS_EXPECTED), n_members)

    profile = pd.DataFrame(index=index)
    profile["household_type"] = hh["household_type"]
    profile["relationship"] = hh["relationship"]
    profile["referred_by_household_id"] = hh["referred_by_household_id"]
    profile["members"] = n_members

    open_ = holdings[holdings["status"] == "open"]
    for figure, kind, column in (("aum", "investment", "market_value"),
                                 ("premiums", "insurance", "annual_premium")):
        rows = open_[open_["kind"] == kind]
        count = rows.groupby("household_id").size().reindex(index, fill_value=0)
        total, partial = _figure_sum(rows[column], rows["household_id"], index, count)
        profile[figure] = total.fillna(0).where(~(total.isna() & (count > 0)))
        # Wholly unknown is not partial: a partial figure is a known lower bound.
        profile[f"{figure}_partial"] = partial & total.notna()
    for figure, column in (("savings", "annual_savings"), ("income", "annual_income")):
        total, partial = _figure_sum(members[column], members["household_id"], index, expected)
        profile[figure] = total
        profile[f"{figure}_partial"] = partial & total.notna()
    profile["net_worth"] = hh["net_worth"].astype("Int64")
    profile["net_worth_partial"] = False
    profile["partial_figures"] = profile[[f"{f}_partial" for f in FIGURES]].any(axis=1)

    categories = occupation_categories(members["occupation"], rules)
    issues = Issues()
    unmapped = members[categories.isna() & members["occupation"].notna()]
    issues.add("members", unmapped, "occupation", "occupation_mapped", "warning",
               "no occupation characteristic")
    tags = prepared.tags
    tagged = flag_table(tags["household_id"], tags["tag"], index, list(TAGS))

    def has_tag(code):
        return tagged[code]

    seasoned = members["business_since"].notna() & (members["business_since"] <= pd.Timestamp(
        as_of - pd.DateOffset(years=rules.behaviour.mature_entrepreneur_years)))
    by_member = pd.DataFrame({"household_id": members["household_id"], "category": categories})
    by_member.loc[(categories == ENTREPRENEUR) & seasoned, "category"] = MATURE_ENTREPRENEUR
    held = flag_table(by_member["household_id"], by_member["category"], index,
                      rules.occupation_categories)
    for category in rules.occupation_categories:
        profile[f"occ_{category}"] = held[category]
    profile[f"occ_{MATURE_ENTREPRENEUR}"] |= has_tag("mature_entrepreneur")

    no_shows, streak = _activity_counts(prepared.activities, as_of, rules, index)
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
