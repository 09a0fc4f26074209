"""The weekly segmentation as assets: read the CRM, profile, segment, publish."""

import datetime as dt

import dagster as dg

from pipelines.partitions import weekly_partitions
from pipelines.resources import CrmDatabaseResource, RulesResource, WarehouseResource
from segmentation.book import BookResult, ProfiledBook, profile_book, segment_book
from segmentation.crm import CrmExtract, read_crm
from segmentation.summary import distribution_markdown
from segmentation.warehouse import Publication, previous_tiers, publish

OWNERS = ["team:segmentation"]
WAREHOUSE_TABLES = ("client_segments", "client_segment_history", "client_segment_criteria",
                    "segment_distribution", "data_quality_issues")


def as_of_date(context: dg.AssetExecutionContext) -> dt.date:
    """The run for partition K segments the CRM as of K, the Monday starting the week."""
    return dt.date.fromisoformat(context.partition_key)


@dg.asset(partitions_def=weekly_partitions, group_name="crm", kinds={"sql", "pandas"},
          owners=OWNERS)
def crm_extract(context: dg.AssetExecutionContext, crm: CrmDatabaseResource) -> dg.Output:
    """Every relation of the CRM contract, read as is, without names, e-mails or birth dates."""
    context.log.info("reading the CRM at %s", crm.describe())
    extract = read_crm(crm.engine())
    counts = extract.row_counts()
    for relation, n in counts.items():
        context.log.info("read %d rows from %s", n, relation)
    return dg.Output(extract, metadata={f"rows_{k}": v for k, v in counts.items()})


@dg.asset(partitions_def=weekly_partitions, group_name="segmentation", kinds={"pandas"},
          owners=OWNERS)
def household_profiles(context: dg.AssetExecutionContext, crm_extract: CrmExtract,
                       rules: RulesResource) -> dg.Output:
    """Validated households with their five figures, occupations, behaviours and tags."""
    book = profile_book(crm_extract, as_of_date(context), rules.load())
    prepared = book.prepared
    severity = book.issues["severity"].value_counts()
    context.log.info("profiled %d households; %d of %d active left out", len(book.profiles),
                     prepared.left_out, prepared.in_scope)
    return dg.Output(book, metadata={
        "households": len(book.profiles),
        "households_left_out": prepared.left_out,
        "left_out_share": round(prepared.left_out_share, 4),
        "issues_error": int(severity.get("error", 0)),
        "issues_warning": int(severity.get("warning", 0)),
    })


@dg.asset(partitions_def=weekly_partitions, group_name="segmentation", kinds={"pandas"},
          owners=OWNERS)
def segmented_book(context: dg.AssetExecutionContext, household_profiles: ProfiledBook,
                   rules: RulesResource, warehouse: WarehouseResource) -> dg.Output:
    """Every household's tier, segment, value ranking and explanation for the week."""
    as_of = as_of_date(context)
    loaded = rules.load()
    last = previous_tiers(warehouse.engine(), as_of)
    result = segment_book(household_profiles, as_of, loaded, previous_tiers=last,
                          run_id=context.run_id)
    return dg.Output(result, metadata={
        "households": len(result.segments),
        "rules_version": loaded.digest,
        "distribution": dg.MetadataValue.md(distribution_markdown(result.distribution)),
        **{f"share_{r.tier}": float(r.share) for r in result.distribution.itertuples()},
    })


@dg.multi_asset(
    specs=[dg.AssetSpec(name, deps=["segmented_book", "household_profiles"], group_name="warehouse",
                        kinds={"sql"}, owners=OWNERS,
                        description=f"The warehouse table {name}, as BI reads it.")
           for name in WAREHOUSE_TABLES],
    partitions_def=weekly_partitions,
    ins={"segmented_book": dg.AssetIn(), "household_profiles": dg.AssetIn()},
)
def warehouse_tables(context: dg.AssetExecutionContext, segmented_book: BookResult,
                     household_profiles: ProfiledBook, warehouse: WarehouseResource):
    """Publish the week to the warehouse in one transaction: all tables or none."""
    as_of = as_of_date(context)
    issues = household_profiles.issues.assign(as_of_date=as_of, run_id=context.run_id)
    frames = {
        "client_segments": segmented_book.segments,
        "client_segment_history": segmented_book.segments,
        "client_segment_criteria": segmented_book.criteria,
        "segment_distribution": segmented_book.distribution,
        "data_quality_issues": issues,
    }
    context.log.info("publishing to the warehouse at %s", warehouse.describe())
    written = publish(warehouse.engine(), Publication(as_of=as_of, frames=frames))
    for name in WAREHOUSE_TABLES:
        yield dg.MaterializeResult(asset_key=name, metadata={
            "dagster/row_count": written.get(name, 0),
            "as_of_date": as_of.isoformat(),
            **({"kept_newer_week": True} if name not in written else {}),
        })

