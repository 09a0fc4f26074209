"""Output checks with great-expectations, run in process before anything is published.

Blocking suites stop the publication when they fail; the distribution suite only warns (the
target bands are goals, not rules).
"""

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from schemas.warehouse import SEGMENTS, TIER_LETTERS

log = logging.getLogger(__name__)

BLOCKING_SUITES = ("client_segments", "client_segment_history")
WARNING_SUITES = ("segment_distribution",)


@dataclass
class QualityReport:
    """One row per expectation (the data_quality_runs table) and where the Data Docs are."""

    runs: pd.DataFrame
    docs_index: Path | None
    failures: list[str] = field(default_factory=list)  # blocking ones, in words

    @property
    def passed(self) -> bool:
        return not self.failures


def _expectations(gx, suite: str, expected_rows: int):
    e = gx.expectations
    if suite == "client_segments":
        return [
            e.ExpectTableRowCountToEqual(value=expected_rows),
            e.ExpectColumnValuesToNotBeNull(column="household_id"),
            e.ExpectColumnValuesToBeUnique(column="household_id"),
            e.ExpectColumnValuesToBeInSet(column="segment", value_set=SEGMENTS),
            e.ExpectColumnValuesToBeInSet(column="tier", value_set=TIER_LETTERS),
            e.ExpectColumnValuesToBeBetween(column="value_score", min_value=0, max_value=100),
            e.ExpectColumnValuesToBeBetween(column="value_percentile", min_value=0,
                                            max_value=100),
            e.ExpectColumnValuesToBeBetween(column="value_rank", min_value=1,
                                            max_value=max(expected_rows, 1)),
        ]
    if suite == "client_segment_history":
        return [e.ExpectCompoundColumnsToBeUnique(column_list=["as_of_date", "household_id"])]
    return [e.ExpectColumnValuesToBeInSet(column="within_target", value_set=[True])]


def _columns(suite) -> list[str]:
    """The columns a suite's expectations name, in order of first mention."""
    named = []
    for expectation in suite.expectations:
        kwargs = expectation.configuration.kwargs
        named += [kwargs["column"]] if "column" in kwargs else kwargs.get("column_list", [])
    return list(dict.fromkeys(named))


def _context(gx, docs_dir: Path | None):
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False}
    if docs_dir is not None:
        context.add_data_docs_site(site_name="segmentation", site_config={
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                              "base_directory": str(docs_dir)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        })
    return context


def check_outputs(frames: dict[str, pd.DataFrame], expected_rows: int,
                  docs_dir: Path | None = None) -> QualityReport:
    """Run every suite on the frames about to be published; render Data Docs to `docs_dir`."""
    import great_expectations as gx

    # Its INFO lines (temporary folders and the like) are noise in a weekly job's log; some of
    # its modules set their own level, so each is quieted.
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("great_expectations"):
            logging.getLogger(name).setLevel(logging.WARNING)
    context = _context(gx, docs_dir)
    source = context.data_sources.add_pandas("segmentation")
    validations = []
    for suite_name in (*BLOCKING_SUITES, *WARNING_SUITES):
        asset = source.add_dataframe_asset(name=suite_name)
        batch = asset.add_batch_definition_whole_dataframe("week")
        suite = context.suites.add(gx.ExpectationSuite(name=suite_name))
        for expectation in _expectations(gx, suite_name, expected_rows):
            suite.add_expectation(expectation)
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(name=suite_name, data=batch, suite=suite))
        validations.append((suite_name, definition, _columns(suite)))

    rows, failures = [], []
    for suite_name, definition, columns in validations:
        checkpoint = context.checkpoints.add(gx.Checkpoint(
            name=f"{suite_name}_checkpoint", validation_definitions=[definition]))
        # Only the columns the suite reads: a book's reasons are most of its bytes.
        outcome = checkpoint.run(batch_parameters={"dataframe": frames[suite_name][columns]})
        for result in next(iter(outcome.run_results.values())).results:
            config = result.expectation_config
            column = config.kwargs.get("column") or ",".join(config.kwargs.get("column_list", []))
            check = f"{config.type}({column})" if column else config.type
            details = result.result or {}
            failed = int(details.get("unexpected_count") or (0 if result.success else 1))
            rows.append({"suite": suite_name, "check": check, "passed": bool(result.success),
                         "failed_records": failed,
                         "details": json.dumps(result.to_json_dict().get("result", {}),
                                               default=str, ensure_ascii=False)})
            if not result.success and suite_name in BLOCKING_SUITES:
                sample = details.get("partial_unexpected_list") or details.get("observed_value")
                failures.append(f"{suite_name}: {check} failed ({failed} records; e.g. "
                                f"{json.dumps(sample, default=str)[:200]})")
    docs_index = None
    if docs_dir:  # once for the three suites: rendering is most of the checks' fixed cost
        context.build_data_docs()
        docs_index = Path(docs_dir) / "index.html"
    for failure in failures:
        log.warning("output check failed: %s", failure)
    return QualityReport(runs=pd.DataFrame(rows), docs_index=docs_index, failures=failures)
