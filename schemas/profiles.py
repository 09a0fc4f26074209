"""pandera model of the household profiles: the hand-off between validation and the rules."""

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Index, Series


class HouseholdProfiles(pa.DataFrameModel):
    """One row per household that can be segmented; figures in integer cents."""

    household_id: Index[str] = pa.Field(unique=True)
    household_type: Series[str] = pa.Field(isin=["individual", "couple"])
    members: Series[int] = pa.Field(ge=0)
    aum: Series[pd.Int64Dtype] = pa.Field(ge=0, nullable=True)
    premiums: Series[pd.Int64Dtype] = pa.Field(ge=0, nullable=True)
    savings: Series[pd.Int64Dtype] = pa.Field(ge=0, nullable=True)
    income: Series[pd.Int64Dtype] = pa.Field(ge=0, nullable=True)
    net_worth: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    partial_flags: Series[bool] = pa.Field(alias=r"^\w+_partial$", regex=True)
    behaviours: Series[bool] = pa.Field(alias=r"^beh_\w+$", regex=True)
    occupations: Series[bool] = pa.Field(alias=r"^occ_\w+$", regex=True)
    no_show_count: Series[int] = pa.Field(ge=0)
    unresponsive_count: Series[int] = pa.Field(ge=0)

    class Config:
        strict = False
