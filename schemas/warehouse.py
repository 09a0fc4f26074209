"""pandera models of the warehouse tables: checked before publishing, and the data dictionary.

Each field's description is what BI reads in the generated dictionary (`segmentation docs`).
"""

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow as pa_arrow
import pyarrow.compute as pc
from pandera.typing import Series

from segmentation.frames import arrow_text

SEGMENTS = ["A", "B+", "B", "C+", "C", "D+", "D", "E"]
TIER_LETTERS = ["A", "B", "C", "D", "E"]
# Amounts are published as exact decimal text (`"412000.00"`) and stored as NUMERIC(14,2).
AMOUNT = r"^-?\d+\.\d{2}$"


def _amount(description: str):
    return pa.Field(nullable=True, str_matches=AMOUNT, description=description)


class ClientSegments(pa.DataFrameModel):
    """client_segments (and client_segment_history): one row per active household and week."""

    household_id: Series[str] = pa.Field(unique=True, description="The CRM's household id.")
    as_of_date: Series[object] = pa.Field(description="The Monday the week was segmented for.")
    segment: Series[str] = pa.Field(isin=SEGMENTS, description="Tier with its + (A, B+, B, …).")
    tier: Series[str] = pa.Field(isin=TIER_LETTERS, description="The tier letter alone.")
    has_potential: Series[bool] = pa.Field(description="The +: could reach a higher tier.")
    potential_tier: Series[str] = pa.Field(
        isin=["A", "B"], nullable=True, description="Highest tier it shows potential for.")
    computed_segment: Series[str] = pa.Field(
        isin=SEGMENTS, description="What the rules gave, before any advisor override.")
    override_reason: Series[str] = pa.Field(
        nullable=True, description="The advisor's reason, when an override applies.")
    potential_signals: Series[str] = pa.Field(
        nullable=True, description="Which signals showed the potential: advisor_tag, "
        "near_miss, occupation_step, value_band, a_cap (comma-separated).")
    household_type: Series[str] = pa.Field(isin=["individual", "couple"],
                                           description="individual or couple.")
    aum: Series[str] = _amount("Assets under management: open investment accounts ($).")
    insurance_premiums: Series[str] = _amount("Annual premiums of in-force policies ($).")
    annual_savings: Series[str] = _amount("Declared annual savings of the members ($); "
                                          "a lower bound when a member's is unknown.")
    annual_income: Series[str] = _amount("Declared annual income of the members ($); "
                                         "a lower bound when a member's is unknown.")
    net_worth: Series[str] = _amount("The household's declared net worth ($).")
    value_score: Series[float] = pa.Field(ge=0, le=100, nullable=True,
                                          description="Weighted mean of figure percentiles.")
    value_percentile: Series[float] = pa.Field(ge=0, le=100, nullable=True,
                                               description="Percentile of the value score "
                                               "in the book, 100 = best.")
    value_rank: Series[int] = pa.Field(ge=1, unique=True, description="1 = best household.")
    criteria_met_a: Series[int] = pa.Field(ge=0, description="Characteristics of A it has.")
    criteria_met_b: Series[int] = pa.Field(ge=0, description="Characteristics of B it has.")
    criteria_met_c: Series[int] = pa.Field(ge=0, description="Characteristics of C it has.")
    criteria_met_d: Series[int] = pa.Field(ge=0, description="Characteristics of D it has.")
    criteria_met_e: Series[int] = pa.Field(ge=0, description="Characteristics of E it has.")
    flags: Series[str] = pa.Field(description="Comma-separated: no_criteria_met, "
                                  "conflicting_signals, over_a_cap, partial_figures, override, "
                                  "expired_override.")
    reasons: Series[str] = pa.Field(description="The explanation, in the rules' language.")
    rules_version: Series[str] = pa.Field(description="Digest of the rules in force.")
    run_id: Series[str] = pa.Field(description="The Dagster run that wrote the row.")

    class Config:
        strict = True
        ordered = False


def one_row_per_fact(criteria: pd.DataFrame) -> pd.Series:
    """False on every row whose (household_id, tier, characteristic) another row repeats.

    Rows come household by household, then in (tier, characteristic) order: when each
    household's rows are together and strictly increasing, no key repeats, which a few
    comparisons of neighbours prove without hashing millions of keys. Otherwise the keys are
    compared in full.
    """
    keys = ["household_id", "tier", "characteristic"]
    if _in_fact_order(*(arrow_text(criteria[k]) for k in keys)):
        return pd.Series(True, index=criteria.index)
    return ~criteria.duplicated(keys, keep=False)


def _in_fact_order(household, tier, characteristic) -> bool:
    if any(column.null_count for column in (household, tier, characteristic)):
        return False
    if len(household) < 2:
        return True
    after, before = slice(1, None), slice(0, len(household) - 1)
    starts = np.concatenate([[True], pc.not_equal(household[after], household[before])
                             .to_numpy(zero_copy_only=False)])
    # Each household's rows together: the household at each change is a new one.
    firsts = household.filter(pa_arrow.array(starts))
    if pc.count_distinct(firsts).as_py() != len(firsts):
        return False
    # Within a household, (tier, characteristic) strictly increases row by row.
    higher = pc.or_(pc.greater(tier[after], tier[before]), pc.and_(
        pc.equal(tier[after], tier[before]),
        pc.greater(characteristic[after], characteristic[before])))
    return bool((starts[1:] | higher.to_numpy(zero_copy_only=False)).all())


class ClientSegmentCriteria(pa.DataFrameModel):
    """client_segment_criteria: one row per household, tier and characteristic met or nearly met.

    No key is enforced in the warehouse: the check `one_row_per_household_tier_characteristic`
    proves it before publishing.
    """

    household_id: Series[str] = pa.Field(description="The CRM's household id.")
    as_of_date: Series[object] = pa.Field(description="The week's Monday.")
    tier: Series[str] = pa.Field(isin=TIER_LETTERS, description="The tier the "
                                 "characteristic belongs to.")
    characteristic: Series[str] = pa.Field(description="Stable code: aum_gt, income_lt, "
                                           "relationship, referral, occupation, diligent, …")
    figure: Series[str] = pa.Field(nullable=True, description="The household's value: an "
                                   "amount as 412000.00, a code, a count or 'tag'.")
    threshold: Series[str] = pa.Field(nullable=True, description="The line or the values "
                                      "that qualify.")
    met: Series[bool] = pa.Field(description="True: met. False: missed by no more than the "
                                 "near-miss margin.")
    partial: Series[bool] = pa.Field(description="The figure is a lower bound.")

    @pa.dataframe_check(name="one_row_per_household_tier_characteristic")
    def _one_row_per_fact(cls, frame: pd.DataFrame) -> pd.Series:
        return one_row_per_fact(frame)

    class Config:
        strict = True


class SegmentDistribution(pa.DataFrameModel):
    """segment_distribution: the book's shape per week and tier, beside the target band."""

    as_of_date: Series[object] = pa.Field(description="The week's Monday.")
    tier: Series[str] = pa.Field(isin=TIER_LETTERS, unique=True, description="The tier.")
    households: Series[int] = pa.Field(ge=0, description="Households in the tier.")
    share: Series[float] = pa.Field(ge=0, le=1, description="Share of the segmented book.")
    target_min: Series[float] = pa.Field(ge=0, le=1, description="Target band, low end.")
    target_max: Series[float] = pa.Field(ge=0, le=1, description="Target band, high end.")
    within_target: Series[bool] = pa.Field(description="The share is inside the band.")

    class Config:
        strict = True


class DataQualityIssues(pa.DataFrameModel):
    """data_quality_issues: one row per bad input record."""

    as_of_date: Series[object] = pa.Field(description="The week's Monday.")
    run_id: Series[str] = pa.Field(description="The Dagster run.")
    source: Series[str] = pa.Field(description="The CRM relation.")
    record_id: Series[str] = pa.Field(nullable=True, description="The record's id (or its "
                                      "row number when it has none).")
    household_id: Series[str] = pa.Field(nullable=True, description="The household the "
                                         "record belongs to, when known.")
    column: Series[str] = pa.Field(nullable=True, description="The offending column.")
    check: Series[str] = pa.Field(description="What was checked: known_code, unique_id, "
                                  "amount_readable, not_negative, household_exists, …")
    value: Series[str] = pa.Field(nullable=True, description="The offending value, as text.")
    severity: Series[str] = pa.Field(isin=["error", "warning"], description="error: the "
                                     "household was left out; warning: it was used.")
    action: Series[str] = pa.Field(description="What the job did about it.")

    class Config:
        strict = False


class DataQualityRuns(pa.DataFrameModel):
    """data_quality_runs: one row per output check per run."""

    as_of_date: Series[object] = pa.Field(description="The week's Monday.")
    run_id: Series[str] = pa.Field(description="The Dagster run.")
    suite: Series[str] = pa.Field(description="The great-expectations suite.")
    check: Series[str] = pa.Field(description="The expectation, with its column.")
    passed: Series[bool] = pa.Field(description="Whether it held.")
    failed_records: Series[int] = pa.Field(ge=0, description="Records that broke it.")
    details: Series[str] = pa.Field(nullable=True, description="The result, as JSON.")

    class Config:
        strict = True


class SegmentMigrations(pa.DataFrameModel):
    """segment_migrations: households whose segment changed since the previous published week."""

    household_id: Series[str] = pa.Field(unique=True, description="The CRM's household id.")
    as_of_date: Series[object] = pa.Field(description="The week's Monday.")
    previous_as_of_date: Series[object] = pa.Field(description="The previous published week.")
    previous_segment: Series[str] = pa.Field(nullable=True, description="Its segment then "
                                             "(empty for a household new to the book).")
    new_segment: Series[str] = pa.Field(nullable=True, description="Its segment now "
                                        "(empty for a household gone from the book).")
    previous_tier: Series[str] = pa.Field(nullable=True, description="Its tier then.")
    new_tier: Series[str] = pa.Field(nullable=True, description="Its tier now.")

    class Config:
        strict = True
        coerce = True


TABLES = {
    "client_segments": ClientSegments,
    "client_segment_history": ClientSegments,
    "client_segment_criteria": ClientSegmentCriteria,
    "segment_distribution": SegmentDistribution,
    "segment_migrations": SegmentMigrations,
    "data_quality_issues": DataQualityIssues,
    "data_quality_runs": DataQualityRuns,
}


def check_publication(frames: dict[str, pd.DataFrame]) -> list[str]:
    """Validate every frame about to be published; return one line per failure."""
    problems, seen = [], {}
    for name, frame in frames.items():
        model = TABLES[name]
        # The current segments and the week's history are one frame: checked once.
        if seen.get((id(frame), model)) is None:
            try:
                model.validate(frame, lazy=True)
                seen[(id(frame), model)] = pd.DataFrame()
            except pa.errors.SchemaErrors as exc:
                seen[(id(frame), model)] = exc.failure_cases
        cases = seen[(id(frame), model)]
        if not cases.empty:
            # A check on whole rows fails once per row, not once per column.
            wide = cases["check"].isin([c.name for c in TABLES[name].to_schema().checks])
            cases = cases[~wide | ~cases.duplicated(["check", "index"])]
            cases.loc[wide, "column"] = "rows"
            for (column, check), group in cases.groupby(["column", "check"], dropna=False):
                sample = ", ".join(str(v) for v in group["failure_case"].head(3))
                problems.append(f"{name}.{column}: {check} failed for {len(group)} rows "
                                f"(e.g. {sample})")
    return problems
