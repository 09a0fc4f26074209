"""The weekly segmentation as assets: read the CRM, profile, segment, check, publish.

`build_assets` makes one copy of the graph per book; without a books file, the single copy
below reads $CRM_DATABASE_URL and writes $WAREHOUSE_DATABASE_URL under unprefixed keys.
"""

import datetime as dt
import os
import resource
import time
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pandas as pd

from pipelines.books import Book
from pipelines.partitions import weekly_partitions
from pipelines.reporting import issue_checks, issue_sample, unmapped_table, weekly_story
from pipelines.resources import VAR, CrmDatabaseResource, WarehouseResource
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


def data_docs_dir(as_of: dt.date | str, book: Book | None = None) -> Path:
    """Where a week's Data Docs go: $SEGMENTATION_DATA_DOCS/[<book>/]<week>/."""
    base = Path(os.environ.get("SEGMENTATION_DATA_DOCS", VAR / "data_docs"))
    week = as_of.isoformat() if isinstance(as_of, dt.date) else as_of
    return base / book.name / week if book else base / week


def _frames(result: BookResult, profiled: ProfiledBook, as_of: dt.date,
            run_id: str) -> dict[str, pd.DataFrame]:
    return {
        "client_segments": result.segments,
        "client_segment_history": result.segments,
        "client_segment_criteria": result.criteria,
        "segment_distribution": result.distribution,
        "data_quality_issues": profiled.issues.assign(as_of_date=as_of, run_id=run_id),
    }


def build_assets(book: Book | None = None) -> list[dg.AssetsDefinition]:
    """The weekly graph of one book, its keys prefixed by the book's name and its databases
    under the book's resource keys; without a book, the graph of the environment's CRM."""
    prefix = [book.name] if book else []
    crm_key = book.crm_key if book else "crm"
    warehouse_key = book.warehouse_key if book else "warehouse"

    def key(name: str) -> dg.AssetKey:
        return dg.AssetKey([*prefix, name])

    def group(name: str) -> str:
        return f"{book.name}_{name}" if book else name

    @dg.asset(partitions_def=weekly_partitions, key_prefix=prefix or None, group_name=group("crm"),
              kinds={"sql", "pandas"}, owners=OWNERS, required_resource_keys={crm_key, "rules"})
    def crm_extract(context: dg.AssetExecutionContext) -> dg.Output:
        """Every relation of the CRM contract, read as is, without names, e-mails or birth dates."""
        crm: CrmDatabaseResource = getattr(context.resources, crm_key)
        try:
            context.resources.rules.load()  # a broken rules file stops the run before the CRM
            context.log.info("reading the CRM at %s", crm.describe())
            extract = crm.retrying(lambda: read_crm(crm.engine(), crm.schema), "the CRM")
        except (RulesError, CrmContractError, DatabaseUnavailableError, FileNotFoundError,
                ValueError) as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from None
        counts = extract.row_counts()
        for relation, n in counts.items():
            context.log.info("read %d rows from %s", n, relation)
        return dg.Output(extract, metadata={**{f"rows_{k}": v for k, v in counts.items()},
                                            "peak_rss_mb": peak_rss_mb()})

    @dg.asset(
        partitions_def=weekly_partitions, key_prefix=prefix or None,
        group_name=group("segmentation"), kinds={"pandas", "pandera"}, owners=OWNERS,
        ins={"crm_extract": dg.AssetIn(key=key("crm_extract"))},
        required_resource_keys={"rules"},
        check_specs=[dg.AssetCheckSpec(f"{r}_records_valid", asset=key("household_profiles"),
                                       description=f"Every record of {r} passes validation.")
                     for r in RELATIONS],
    )
    def household_profiles(context: dg.AssetExecutionContext, crm_extract: CrmExtract):
        """Validated households with their five figures, occupations, behaviours and tags."""
        as_of = as_of_date(context)
        report = data_docs_dir(as_of, book) / "issues_of_the_failed_run.csv"
        try:
            profiled = profile_book(crm_extract, as_of, context.resources.rules.load())
        except UntrustworthyRunError as exc:
            # Nothing is published, so the records at fault go to a file beside the Data Docs.
            report.parent.mkdir(parents=True, exist_ok=True)
            exc.issues.drop(columns=["household_id"]).to_csv(report, index=False)
            raise dg.Failure(
                description=f"{exc}; the records at fault are listed in {report}",
                metadata={"sample": dg.MetadataValue.md(issue_sample(exc.issues)),
                          "report": dg.MetadataValue.path(str(report))}) from None
        report.unlink(missing_ok=True)  # a failed run's list, now out of date
        prepared = profiled.prepared
        severity = profiled.issues["severity"].value_counts()
        context.log.info("profiled %d households; %d of %d active left out",
                         len(profiled.profiles), prepared.left_out, prepared.in_scope)
        yield dg.Output(profiled, metadata={
            "households": len(profiled.profiles),
            "households_left_out": prepared.left_out,
            "left_out_share": round(prepared.left_out_share, 4),
            "issues_error": int(severity.get("error", 0)),
            "issues_warning": int(severity.get("warning", 0)),
            "unmapped_occupations": dg.MetadataValue.md(
                unmapped_table(profiled.issues, "occupation")),
            "unmapped_tags": dg.MetadataValue.md(unmapped_table(profiled.issues, "tag")),
            **{f"seconds_{k}": round(v, 3) for k, v in profiled.seconds.items()},
            "peak_rss_mb": peak_rss_mb(),
        })
        yield from issue_checks(profiled.issues)

    @dg.asset(
        partitions_def=weekly_partitions, key_prefix=prefix or None,
        group_name=group("segmentation"), kinds={"pandas", "great_expectations"},
        owners=OWNERS, ins={"household_profiles": dg.AssetIn(key=key("household_profiles"))},
        required_resource_keys={warehouse_key, "rules"},
        check_specs=[
            *(dg.AssetCheckSpec(f"{s}_expectations", asset=key("segmented_book"), blocking=True,
                                description=f"The great-expectations suite of {s} holds.")
              for s in BLOCKING_SUITES),
            *(dg.AssetCheckSpec(f"{s}_expectations", asset=key("segmented_book"),
                                description=f"{s}: shares inside the target bands (a warning).")
              for s in WARNING_SUITES),
            dg.AssetCheckSpec("warehouse_schemas", asset=key("segmented_book"), blocking=True,
                              description="Every table to publish matches its pandera model."),
        ],
    )
    def segmented_book(context: dg.AssetExecutionContext, household_profiles: ProfiledBook):
        """Every household's tier, segment, value ranking and explanation, checked for publishing.
        """
        warehouse: WarehouseResource = getattr(context.resources, warehouse_key)
        as_of = as_of_date(context)
        started = time.perf_counter()
        loaded = context.resources.rules.load()
        last = warehouse.retrying(lambda: previous_tiers(warehouse.engine(), as_of),
                                  "the warehouse")
        last_as_of, last_week = warehouse.retrying(
            lambda: previous_week(warehouse.engine(), as_of), "the warehouse")
        result = segment_book(household_profiles, as_of, loaded, previous_tiers=last,
                              run_id=context.run_id)
        moves = migrations(result.segments, last_week, as_of, last_as_of)
        frames = _frames(result, household_profiles, as_of, context.run_id)
        frames["segment_migrations"] = moves
        segmented = time.perf_counter()
        schema_problems = check_publication(frames)
        docs = data_docs_dir(as_of, book)
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

    @dg.multi_asset(
        name=key("warehouse_tables").to_python_identifier(),
        specs=[dg.AssetSpec(key(name), deps=[key("segmented_book"), key("household_profiles")],
                            group_name=group("warehouse"), kinds={"sql"}, owners=OWNERS,
                            description=f"The warehouse table {name}, as BI reads it.")
               for name in WAREHOUSE_TABLES],
        partitions_def=weekly_partitions,
        ins={"segmented_book": dg.AssetIn(key=key("segmented_book")),
             "household_profiles": dg.AssetIn(key=key("household_profiles"))},
        required_resource_keys={warehouse_key},
    )
    def warehouse_tables(context: dg.AssetExecutionContext, segmented_book: CheckedBook,
                         household_profiles: ProfiledBook):
        """Publish the week to the warehouse in one transaction: all tables or none."""
        warehouse: WarehouseResource = getattr(context.resources, warehouse_key)
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
            yield dg.MaterializeResult(asset_key=key(name), metadata={
                "peak_rss_mb": peak_rss_mb(),
                "dagster/row_count": written.get(name, 0),
                "as_of_date": as_of.isoformat(),
                **({"kept_newer_week": True} if name not in written else {}),
                **(story if name == "client_segments" else {}),
            })

    return [crm_extract, household_profiles, segmented_book, warehouse_tables]


# The single graph of the environment's CRM, found by `load_assets_from_modules`.
crm_extract, household_profiles, segmented_book, warehouse_tables = build_assets()
