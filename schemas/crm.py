"""pandera models of the CRM relations, after spellings are mapped to codes and amounts to cents.

A value that fails here is reported row by row; `segmentation.validation` decides whether the
record is left out or used with the value treated as unknown.
"""

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from segmentation.frames import each_once
from segmentation.rules import RELATIONSHIPS, TAGS

Cents = Series[pd.Int64Dtype]


def _unique(column: str):
    """The verdict of `Field(unique=True)`, which hashes millions of ids two or three times.

    Missing ids are compared too: two rows without an id are both reported.
    """
    return pa.check(column, name="unique_id", ignore_na=False)(
        lambda cls, ids: each_once(ids))


class Households(pa.DataFrameModel):
    """One row per client relationship."""

    household_id: Series[str]
    household_type: Series[str] = pa.Field(isin=["individual", "couple"])
    status: Series[str] = pa.Field(isin=["active", "inactive", "prospect"])
    relationship: Series[str] = pa.Field(isin=list(RELATIONSHIPS), nullable=True)
    referred_by_household_id: Series[str] = pa.Field(nullable=True)
    net_worth: Cents = pa.Field(nullable=True)

    _unique_household_id = _unique("household_id")

    class Config:
        strict = False


class Members(pa.DataFrameModel):
    """The people of a household; amounts in cents."""

    member_id: Series[str]
    household_id: Series[str]
    occupation: Series[str] = pa.Field(nullable=True)
    business_since: Series["datetime64[us]"] = pa.Field(nullable=True)  # noqa: F821
    annual_income: Cents = pa.Field(ge=0, nullable=True)
    annual_savings: Cents = pa.Field(ge=0, nullable=True)

    _unique_member_id = _unique("member_id")

    class Config:
        strict = False
        coerce = False


class Holdings(pa.DataFrameModel):
    """Investment accounts and insurance policies; amounts in cents."""

    holding_id: Series[str]
    household_id: Series[str]
    kind: Series[str] = pa.Field(isin=["investment", "insurance"])
    status: Series[str] = pa.Field(isin=["open", "closed"])
    market_value: Cents = pa.Field(ge=0, nullable=True)
    annual_premium: Cents = pa.Field(ge=0, nullable=True)

    _unique_holding_id = _unique("holding_id")

    class Config:
        strict = False


class Activities(pa.DataFrameModel):
    """Meetings and contacts, with their time in UTC."""

    activity_id: Series[str]
    household_id: Series[str]
    kind: Series[str] = pa.Field(isin=["meeting", "email", "call", "text"])
    occurred_at: Series[pd.DatetimeTZDtype("us", "UTC")]
    outcome: Series[str] = pa.Field(
        isin=["attended", "no_show", "cancelled", "answered", "unanswered"])

    _unique_activity_id = _unique("activity_id")

    class Config:
        strict = False


class HouseholdTags(pa.DataFrameModel):
    """Advisor tags, mapped to the rules' vocabulary."""

    household_id: Series[str]
    tag: Series[str] = pa.Field(isin=list(TAGS))

    class Config:
        strict = False


class SegmentOverrides(pa.DataFrameModel):
    """Tiers forced by an advisor."""

    household_id: Series[str]
    # A is the top and E is let go: neither carries a "+".
    tier: Series[str] = pa.Field(isin=["A", "B+", "B", "C+", "C", "D+", "D", "E"])
    reason: Series[str]
    expires_on: Series["datetime64[us]"] = pa.Field(nullable=True)  # noqa: F821

    class Config:
        strict = False


MODELS = {
    "households": Households,
    "members": Members,
    "holdings": Holdings,
    "activities": Activities,
    "household_tags": HouseholdTags,
    "segment_overrides": SegmentOverrides,
}
