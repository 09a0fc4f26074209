"""The weekly segmentation as assets: read the CRM, profile, segment, check, publish."""

import datetime as dt
import os
import resource
import time
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pandas as pd

from pipelines.partitions import weekly_partitions
from pipelines.reporting import issue_checks, issue_sample, unmapped_table, weekly_story
from pipelines.resources import VAR, CrmDatabaseResource, RulesResource, WarehouseResource
from schemas.warehouse import check_publication
from segmentation.book import (
    BookResult,
    ProfiledBook,
    UntrustworthyRunError,
    profile_book,
    segment_book,
)
from segmentation.crm import RELATIONS, CrmContractError, CrmExtract, read_crm
from segmentation.db import DatabaseUnavailableError
from segmentation.movements import migrations
from segmentation.quality import BLOCKING_SUITES, WARNING_SUITES, QualityReport, check_outputs
from segmentation.rules import RulesError
from segmentation.summary import distribution_markdown
from segmentation.warehouse import Publication, previous_tiers, previous_week, publish

OWNERS = ["team:segmentation"]
WAREHOUSE_TABLES = ("client_segments", "client_segment_history", "client_segment_criteria",
                    "segment_distribution", "segment_migrations", "data_quality_issues",
                    "data_quality_runs")


@dataclass
class CheckedBook:
    """A segmented book with the verdict of its output checks."""

    result: BookResult
    quality: QualityReport
    schema_problems: list[str]
    migrations: pd.DataFrame

    @property
    def publishable(self) -> bool:
        return self.quality.passed and not self.schema_problems


def peak_rss_mb() -> float:
    """The process's peak resident memory so far, in MB."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def as_of_date(context: dg.AssetExecutionContext) -> dt.date:
    """The run for partition K segments the CRM as of K, the Monday starting the week."""
    return dt.date.fromisoformat(context.partition_key)


@dg.asset(partitions_def=weekly_partitions, group_name="crm", kinds={"sql", "pandas"},
          owners=OWNERS)
def crm_extract(context: dg.AssetExecutionContext, crm: CrmDatabaseResource,
                rules: RulesResource) -> dg.Output:
    """Every relation of the CRM contract, read as is, without names, e-mails or birth dates."""
    try:
        rules.load()  # a broken rules file stops the run before the CRM is read
    except RulesError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None
    context.log.info("reading the CRM at %s", crm.describe())
    try:
        extract = crm.retrying(lambda: read_crm(crm.engine(), crm.schema), "the CRM")
    except (CrmContractError, DatabaseUnavailableError, FileNotFoundError, ValueError) as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None
    counts = extract.row_counts()
    for relation, n in counts.items():
        context.log.info("read %d rows from %s", n, relation)
    return dg.Output(extract, metadata={**{f"rows_{k}": v for k, v in counts.items()},
                                        "peak_rss_mb": peak_rss_mb()})


@dg.asset(
    partitions_def=weekly_partitions, group_name="segmentation", kinds={"pandas", "pandera"},
    owners=OWNERS,
    check_specs=[dg.AssetCheckSpec(f"{r}_records_valid", asset="household_profiles",
                                   description=f"Every record of {r} passes validation.")
                 for r in RELATIONS],
)
def household_profiles(context: dg.AssetExecutionContext, crm_extract: CrmExtract,
                       rules: RulesResource):
    """Validated households with their five figures, occupations, behaviours and tags."""
    as_of = as_of_date(context)
    try:
        book = profile_book(crm_extract, as_of, rules.load())
    except UntrustworthyRunError as exc:
        # Nothing is published, so the records at fault go to a file beside the Data Docs.
        report = _docs_dir(as_of) / "issues_of_the_failed_run.csv"
        report.parent.mkdir(parents=True, exist_ok=True)
        exc.issues.drop(columns=["household_id"]).to_csv(report, index=False)
        raise dg.Failure(
            description=f"{exc}; the records at fault are listed in {report}",
            metadata={"sample": dg.MetadataValue.md(issue_sample(exc.issues)),
                      "report": dg.MetadataValue.path(str(report))}) from None
    prepared = book.prepared
    severity = book.issues["severity"].value_counts()
    context.log.info("profiled %d households; %d of %d active left out", len(book.profiles),
                     prepared.left_out, prepared.in_scope)
    yield dg.Output(book, metadata={
        "households": len(book.profiles),
        "households_left_out": prepared.left_out,
        "left_out_share": round(prepared.left_out_share, 4),
        "issues_error": int(severity.get("error", 0)),
        "issues_warning": int(severity.get("warning", 0)),
        "unmapped_occupations": dg.MetadataValue.md(unmapped_table(book.issues, "occupation")),
        "unmapped_tags": dg.MetadataValue.md(unmapped_table(book.issues, "tag")),
        **{f"seconds_{k}": round(v, 3) for k, v in book.seconds.items()},
        "peak_rss_mb": peak_rss_mb(),
    })
    yield from issue_checks(book.issues)


@dg.asset(
    partitions_def=weekly_partitions, group_name="segmentation",
    kinds={"pandas", "great_expectations"}, owners=OWNERS,
    check_specs=[
        *(dg.AssetCheckSpec(f"{s}_expectations", asset="segmented_book", blocking=True,
                            description=f"The great-expectations suite of {s} holds.")
          for s in BLOCKING_SUITES),
        *(dg.AssetCheckSpec(f"{s}_expectations", asset="segmented_book",
                            description=f"{s}: shares inside the target bands (a warning).")
          for s in WARNING_SUITES),
        dg.AssetCheckSpec("warehouse_schemas", asset="segmented_book", blocking=True,
                          description="Every table to publish matches its pandera model."),
    ],
)
def segmented_book(context: dg.AssetExecutionContext, household_profiles: ProfiledBook,
                   rules: RulesResource, warehouse: WarehouseResource):
    """Every household's tier, segment, value ranking and explanation, checked for publishing."""
    as_of = as_of_date(context)
    started = time.perf_counter()
    loaded = rules.load()
    last = warehouse.retrying(lambda: previous_tiers(warehouse.engine(), as_of),
                              "the warehouse")
    last_as_of, last_week = warehouse.retrying(lambda: previous_week(warehouse.engine(), as_of),
                                               "the warehouse")
    result = segment_book(household_profiles, as_of, loaded, previous_tiers=last,
                          run_id=context.run_id)
    moves = migrations(result.segments, last_week, as_of, last_as_of)
    frames = _frames(result, household_profiles, as_of, context.run_id)
    frames["segment_migrations"] = moves
    segmented = time.perf_counter()
    schema_problems = check_publication(frames)
    docs = _docs_dir(as_of)
    quality = check_outputs(
        {"client_segments": result.segments, "client_segment_history": result.segments,
         "segment_distribution": result.distribution},
        expected_rows=len(household_profiles.profiles), docs_dir=docs)
    checked = CheckedBook(result=result, quality=quality, schema_problems=schema_problems,
                          migrations=moves)
    seconds = {"segment": segmented - started, "quality": time.perf_counter() - segmented}
    yield dg.Output(checked, metadata={
        "households": len(result.segments),
        "rules_version": loaded.digest,
        "distribution": dg.MetadataValue.md(distribution_markdown(result.distribution)),
        "data_docs": dg.MetadataValue.path(str(quality.docs_index)),
        **{f"share_{r.tier}": float(r.share) for r in result.distribution.itertuples()},
        **{f"seconds_{k}": round(v, 3) for k, v in seconds.items()},
        "peak_rss_mb": peak_rss_mb(),
    })
    for suite in (*BLOCKING_SUITES, *WARNING_SUITES):
        runs = quality.runs[quality.runs["suite"] == suite]
        failed = runs[~runs["passed"]]
        yield dg.AssetCheckResult(
            check_name=f"{suite}_expectations", passed=failed.empty,
            severity=dg.AssetCheckSeverity.ERROR if suite in BLOCKING_SUITES
            else dg.AssetCheckSeverity.WARN,
            metadata={"expectations": len(runs), "failed": len(failed),
                      "failed_checks": ", ".join(failed["check"]) or "none",
                      "data_docs": dg.MetadataValue.path(str(quality.docs_index))})
    yield dg.AssetCheckResult(check_name="warehouse_schemas", passed=not schema_problems,
                              metadata={"problems": "\n".join(schema_problems) or "none"})
    if not checked.publishable:
        raise dg.Failure(
            description="output checks failed; nothing was published: "
            + "; ".join(quality.failures + schema_problems),
            metadata={"data_docs": dg.MetadataValue.path(str(quality.docs_index))})


def _docs_dir(as_of: dt.date) -> Path:
    base = Path(os.environ.get("SEGMENTATION_DATA_DOCS", VAR / "data_docs"))
    return base / as_of.isoformat()


def _frames(result: BookResult, book: ProfiledBook, as_of: dt.date,
            run_id: str) -> dict[str, pd.DataFrame]:
    return {
        "client_segments": result.segments,
        "client_segment_history": result.segments,
        "client_segment_criteria": result.criteria,
        "segment_distribution": result.distribution,
        "data_quality_issues": book.issues.assign(as_of_date=as_of, run_id=run_id),
    }


@dg.multi_asset(
    specs=[dg.AssetSpec(name, deps=["segmented_book", "household_profiles"],
                        group_name="warehouse", kinds={"sql"}, owners=OWNERS,
                        description=f"The warehouse table {name}, as BI reads it.")
           for name in WAREHOUSE_TABLES],
    partitions_def=weekly_partitions,
    ins={"segmented_book": dg.AssetIn(), "household_profiles": dg.AssetIn()},
)
def warehouse_tables(context: dg.AssetExecutionContext, segmented_book: CheckedBook,
                     household_profiles: ProfiledBook, warehouse: WarehouseResource):
    """Publish the week to the warehouse in one transaction: all tables or none."""
    if not segmented_book.publishable:
        raise dg.Failure(description="refusing to publish a book whose output checks failed")
    as_of = as_of_date(context)
    frames = _frames(segmented_book.result, household_profiles, as_of, context.run_id)
    frames["segment_migrations"] = segmented_book.migrations
    frames["data_quality_runs"] = segmented_book.quality.runs.assign(
        as_of_date=as_of, run_id=context.run_id)
    context.log.info("publishing to the warehouse at %s", warehouse.describe())
    publication = Publication(as_of=as_of, frames=frames)
    # One transaction: a retry after a lost connection starts the whole week again.
    written = warehouse.retrying(lambda: publish(warehouse.engine(), publication),
                                 "the warehouse")
    story = weekly_story(segmented_book, household_profiles)
    for name in WAREHOUSE_TABLES:
        yield dg.MaterializeResult(asset_key=name, metadata={
            "peak_rss_mb": peak_rss_mb(),
            "dagster/row_count": written.get(name, 0),
            "as_of_date": as_of.isoformat(),
            **({"kept_newer_week": True} if name not in written else {}),
            **(story if name == "client_segments" else {}),
        })
