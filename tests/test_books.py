"""Several firms in one network: one graph per book, each firm segmented as if it ran alone."""

import datetime as dt
import functools
import os
import secrets
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa
import yaml
from conftest import QUIET, Week

from pipelines.books import Book, BooksError, load_books
from pipelines.definitions import build_definitions
from pipelines.monitoring import failure_notice
from pipelines.resources import warehouse_of
from segmentation.crm_load import write_crm
from segmentation.demo import generate_demo_crm
from segmentation.rules import load_rules
from segmentation.warehouse import metadata

warehouse_tables = metadata.tables

ROOT = Path(__file__).resolve().parents[1]
WEEK = "2026-11-30"
# Small books of different sizes, so that each firm's cap and percentiles differ from the
# network's; ids carry the firm's letter so that a household in the wrong schema shows.
FIRMS = {"north": ("N", 300, 5), "south": ("S", 180, 6)}
# A cap that binds in books this small: each firm keeps its best 5 % of households in A.
CAP = {"share": 0.05}
SQLITE_BOOKS = """\
books:
  - name: north
    warehouse_schema: seg_north
    crm_url_env: CRM_NORTH_URL
  - name: south
    warehouse_schema: seg_south
    crm_url_env: CRM_SOUTH_URL
"""


@functools.cache
def _firm_frames(name: str) -> dict[str, pd.DataFrame]:
    letter, households, seed = FIRMS[name]
    frames = generate_demo_crm(households, seed=seed, as_of=dt.date.fromisoformat(WEEK))
    for frame in frames.values():
        for column in ("household_id", "referred_by_household_id"):
            if column in frame:
                frame[column] = frame[column].str.replace("H-", f"{letter}-", regex=False)
    return frames


def _firm(name: str) -> dict[str, pd.DataFrame]:
    return {k: v.copy() for k, v in _firm_frames(name).items()}


def _run(defs: dg.Definitions, instance=None) -> dg.ExecuteInProcessResult:
    job = defs.resolve_job_def("segmentation_weekly_job")
    return job.execute_in_process(partition_key=WEEK, raise_on_error=False, run_config=QUIET,
                                  instance=instance or dg.DagsterInstance.ephemeral())


def _read(engine: sa.Engine, table: str) -> pd.DataFrame:
    """A warehouse table through `engine`, in the schema its `schema_translate_map` names."""
    with engine.connect() as conn:
        return pd.read_sql(sa.select(warehouse_tables[table]), conn)


def _segments(engine: sa.Engine) -> pd.DataFrame:
    frame = _read(engine, "client_segments").drop(columns=["run_id"])
    return frame.sort_values("household_id").reset_index(drop=True)


def _distribution(engine: sa.Engine) -> pd.DataFrame:
    return _read(engine, "segment_distribution").sort_values("tier").reset_index(drop=True)


def _cap_rules(tmp_path: Path, monkeypatch) -> None:
    rules = load_rules().model_dump(mode="json")
    rules["a_cap"] = CAP
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rules, allow_unicode=True), "utf-8")
    monkeypatch.setenv("SEGMENTATION_RULES", str(tmp_path / "rules.yaml"))


def _book_engine(books: list[Book], name: str) -> sa.Engine:
    return warehouse_of(next(b for b in books if b.name == name)).engine()


def _in_schema(url: str, schema: str) -> sa.Engine:
    return sa.create_engine(url).execution_options(schema_translate_map={None: schema})


def _sqlite_books(tmp_path: Path, monkeypatch, drop: tuple[str, str] | None = None):
    """Two firms' CRMs in two SQLite files, one warehouse file; `drop` removes a relation."""
    for name in FIRMS:
        url = f"sqlite:///{tmp_path / f'crm_{name}.sqlite'}"
        write_crm(sa.create_engine(url), _firm(name))
        monkeypatch.setenv(f"CRM_{name.upper()}_URL", url)
    if drop:
        with sa.create_engine(f"sqlite:///{tmp_path / f'crm_{drop[0]}.sqlite'}").begin() as conn:
            conn.execute(sa.text(f"DROP TABLE {drop[1]}"))
    monkeypatch.setenv("WAREHOUSE_DATABASE_URL", f"sqlite:///{tmp_path / 'warehouse.sqlite'}")
    monkeypatch.setenv("SEGMENTATION_DATA_DOCS", str(tmp_path / "data_docs"))
    _cap_rules(tmp_path, monkeypatch)
    (tmp_path / "books.yaml").write_text(SQLITE_BOOKS, "utf-8")
    return load_books(tmp_path / "books.yaml")


def _assert_own_households(books_side: pd.DataFrame, alone: pd.DataFrame, letter: str):
    assert len(books_side) > 100
    assert books_side["household_id"].str.startswith(f"{letter}-").all()
    pd.testing.assert_frame_equal(books_side, alone, check_dtype=False)


def _assert_cap_per_firm(segments: pd.DataFrame):
    """The cap bound, at the share of this firm's size, not of the network's."""
    assert segments["flags"].str.contains("over_a_cap").any()
    computed_a = ((segments["tier"] == "A") & segments["override_reason"].isna()).sum()
    assert computed_a == int(Decimal(str(CAP["share"])) * len(segments))


# --- the books file ---------------------------------------------------------------------------

def _load(tmp_path: Path, text: str) -> list[Book]:
    path = tmp_path / "books.yaml"
    path.write_text(text, "utf-8")
    return load_books(path)


def test_a_valid_books_file_loads_with_defaults(tmp_path):
    books = _load(tmp_path, SQLITE_BOOKS.replace("    crm_url_env: CRM_SOUTH_URL\n", ""))
    assert [b.name for b in books] == ["north", "south"]
    assert books[1].crm_url_env == "CRM_DATABASE_URL"
    assert books[1].warehouse_url_env == "WAREHOUSE_DATABASE_URL"
    assert books[0].crm_schema is None
    assert (books[0].crm_key, books[0].warehouse_key) == ("crm_north", "warehouse_north")


@pytest.mark.parametrize("text, message", [
    ("books:\n  - name: north\n    warehouse_schema: a\n    crm_url: x\n",
     r"books\[0\] \(north\)\.crm_url: unknown key"),
    ("books:\n  - {name: north, warehouse_schema: a}\n  - {name: north, warehouse_schema: b}\n",
     "name north is given to more than one book"),
    ("books:\n  - {name: north, warehouse_schema: a}\n  - {name: south, warehouse_schema: a}\n",
     "warehouse_schema a is given to more than one book"),
    ("books:\n  - {name: North, warehouse_schema: a}\n",
     r"books\[0\]\.name: must be lowercase letters"),
    ("books:\n  - {name: north, warehouse_schema: seg-north}\n",
     r"books\[0\] \(north\)\.warehouse_schema: must be a lowercase SQL identifier"),
    ("books:\n  - {name: north, warehouse_schema: a, crm_schema: 'x; drop'}\n",
     r"\.crm_schema: must be a lowercase SQL identifier"),
    ("books:\n  - {name: north}\n", r"\(north\)\.warehouse_schema: Field required"),
    ("books: []\n", "books: List should have at least 1 item"),
    ("firms: []\n", "firms: unknown key"),
    ("books:\n  - {name: north, warehouse_schema: a, name: south}\n",
     "the key 'name' is written twice"),
    ("books: [\n", "is not valid YAML at line"),
    ("- north\n", "must hold a mapping with the key 'books'"),
])
def test_books_file_errors_name_the_problem(tmp_path, text, message):
    with pytest.raises(BooksError, match=message):
        _load(tmp_path, text)


def test_a_url_in_the_books_file_is_refused_without_repeating_it(tmp_path):
    secret = secrets.token_urlsafe(12)  # made up for the test, never a literal
    text = ("books:\n  - name: north\n    warehouse_schema: seg_north\n"
            f"    crm_url_env: postgresql://reader:{secret}@crm-host/crm\n")
    with pytest.raises(BooksError) as caught:
        _load(tmp_path, text)
    assert "crm_url_env: must be the NAME of an environment variable" in str(caught.value)
    assert secret not in str(caught.value)


# --- the definitions --------------------------------------------------------------------------

def test_definitions_with_books_load_and_books_are_independent(tmp_path):
    books = _load(tmp_path, SQLITE_BOOKS)
    defs = build_definitions(books)
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    keys = graph.get_all_asset_keys()
    for book in ("north", "south"):
        mine = {k for k in keys if k.path[0] == book}
        assert {k.path[-1] for k in mine} >= {"crm_extract", "household_profiles",
                                              "segmented_book", "client_segments",
                                              "segment_distribution", "data_quality_issues"}
    assert all(len(k.path) == 2 for k in keys)  # nothing left unprefixed
    for key in keys:  # no asset reads another book's asset
        assert {p.path[0] for p in graph.get(key).parent_keys} <= {key.path[0]}, key
    assert {graph.get(k).group_name for k in keys} == {
        "north_crm", "north_segmentation", "north_warehouse",
        "south_crm", "south_segmentation", "south_warehouse"}

    job = defs.resolve_job_def("segmentation_weekly_job")
    deps = job.graph.dependency_structure
    for node in job.graph.nodes:  # the steps: each waits only on steps of its own book
        book = node.name.split("__")[0]
        upstream = {out.node_name.split("__")[0]
                    for out in deps.all_upstream_outputs_from_node(node.name)}
        assert upstream <= {book}, node.name
    assert {n.name.split("__")[0] for n in job.graph.nodes} == {"north", "south"}

    fresh = defs.resolve_job_def("freshness_daily_job")
    assert {n.name for n in fresh.graph.nodes} == {
        "north__client_segments_client_segments_fresh",
        "south__client_segments_client_segments_fresh"}
    schedules = {s.name: s.job_name for s in defs.schedules}
    assert schedules == {"segmentation_weekly_schedule": "segmentation_weekly_job",
                         "freshness_daily_schedule": "freshness_daily_job"}
    assert {"rules", "crm_north", "crm_south", "warehouse_north", "warehouse_south"} <= set(
        defs.resources)


def test_the_environment_chooses_books_or_the_single_crm(tmp_path):
    (tmp_path / "books.yaml").write_text(SQLITE_BOOKS, "utf-8")
    script = ("from pipelines.definitions import defs\n"
              "print(sorted(k.to_user_string() for k in "
              "defs.resolve_asset_graph().get_all_asset_keys())[:2])")
    env = {k: v for k, v in os.environ.items() if k != "SEGMENTATION_BOOKS"}
    lines = []
    for extra in ({}, {"SEGMENTATION_BOOKS": str(tmp_path / "books.yaml")}):
        done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env={**env, **extra},
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        lines.append(done.stdout.strip())
    assert lines == ["['client_segment_criteria', 'client_segment_history']",
                     "['north/client_segment_criteria', 'north/client_segment_history']"]


# --- a week of two firms ----------------------------------------------------------------------

def test_each_firm_on_sqlite_is_segmented_as_if_alone(tmp_path, monkeypatch):
    books = _sqlite_books(tmp_path, monkeypatch)
    result = _run(build_definitions(books))
    assert result.success
    published = {}
    for book in books:
        # On SQLite a book's schema is a warehouse file of its own, readable as it is.
        engine = sa.create_engine(f"sqlite:///{tmp_path / f'warehouse.seg_{book.name}.sqlite'}")
        published[book.name] = (_segments(engine), _distribution(engine))
        issues = _read(engine, "data_quality_issues")
        letter = FIRMS[book.name][0]
        assert issues["household_id"].dropna().str.startswith(f"{letter}-").all()
        assert "v_client_segments_current" in sa.inspect(engine).get_view_names()
    assert not (tmp_path / "warehouse.sqlite").exists()  # every table is in a book's schema
    assert (tmp_path / "data_docs" / "north" / WEEK / "index.html").exists()

    for name, (letter, _, _) in FIRMS.items():
        alone = Week(tmp_path / f"alone_{name}", monkeypatch,
                     crm_url=f"sqlite:///{tmp_path / f'crm_{name}.sqlite'}")
        (tmp_path / f"alone_{name}").mkdir()
        alone.rules(a_cap=CAP).run(WEEK)
        engine = sa.create_engine(alone.warehouse_url)
        segments, distribution = published[name]
        _assert_own_households(segments, _segments(engine), letter)
        pd.testing.assert_frame_equal(distribution, _distribution(engine), check_dtype=False)
        _assert_cap_per_firm(segments)


def test_a_failing_book_fails_alone(tmp_path, monkeypatch):
    books = _sqlite_books(tmp_path, monkeypatch, drop=("south", "activities"))
    instance = dg.DagsterInstance.ephemeral()
    result = _run(build_definitions(books), instance)
    assert not result.success
    failed = {e.step_key for e in result.all_events if e.is_step_failure}
    assert failed == {"south__crm_extract"}
    started = {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}
    assert "south__warehouse_tables" not in started
    assert {"north__warehouse_tables", "north__segmented_book"} <= started
    north = _segments(_book_engine(books, "north"))
    assert len(north) > 250 and north["household_id"].str.startswith("N-").all()
    assert not (tmp_path / "warehouse.seg_south.sqlite").exists()

    run = instance.get_run_by_id(result.run_id)
    event = instance.get_records_for_run(
        result.run_id, of_type=dg.DagsterEventType.RUN_FAILURE).records[0]
    context = dg.build_run_status_sensor_context(
        sensor_name="segmentation_failure_alert", dagster_instance=instance, dagster_run=run,
        dagster_event=event.event_log_entry.dagster_event).for_run_failure()
    body = failure_notice(context).body
    assert "Failed step: south__crm_extract" in body and "'activities' is missing" in body
    assert "Books with a failed step: south;" in body
    assert "Data quality (north): households" in body


def test_the_command_runs_one_book_alone(tmp_path, monkeypatch, capsys):
    from pipelines.cli import main

    books = _sqlite_books(tmp_path, monkeypatch)
    monkeypatch.setenv("SEGMENTATION_BOOKS", str(tmp_path / "books.yaml"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", "utf-8")
    assert main(["run", "--week", WEEK, "--book", "south"]) == 0
    out = capsys.readouterr().out
    assert "Book south, week of 2026-11-30:" in out and "Book north" not in out
    assert not (tmp_path / "warehouse.seg_north.sqlite").exists()
    south = _segments(_book_engine(books, "south"))
    assert south["household_id"].str.startswith("S-").all()

    assert main(["summary", "--week", WEEK]) == 1  # north is not published
    seen = capsys.readouterr()
    assert "Book south, week of 2026-11-30" in seen.out
    assert "north: the week 2026-11-30 is not published" in seen.err
    household = south["household_id"].iloc[0]
    assert main(["explain", household]) == 2
    assert "name the household's book with --book (north, south)" in capsys.readouterr().err
    assert main(["explain", household, "--book", "south", "--lang", "en"]) == 0
    assert household in capsys.readouterr().out
    assert main(["run", "--week", WEEK, "--book", "east"]) == 2
    assert "no book is named 'east'; the books are north, south" in capsys.readouterr().err
    for refused in (["demo"], ["benchmark"]):
        assert main(refused) == 2
        assert "SEGMENTATION_BOOKS is set" in capsys.readouterr().err


# --- PostgreSQL: two CRM schemas in one database, two warehouse schemas in another ------------

POSTGRES_BOOKS = """\
books:
  - {name: north, crm_schema: north, warehouse_schema: seg_north}
  - {name: south, crm_schema: south, warehouse_schema: seg_south}
"""


def test_books_on_postgres(tmp_path, monkeypatch, postgres_database):
    crm_url, warehouse_url = postgres_database("crm"), postgres_database("warehouse")
    with sa.create_engine(crm_url).begin() as conn:
        for name in FIRMS:
            conn.execute(sa.text(f"CREATE SCHEMA {name}"))
    for name in FIRMS:
        # Unqualified names land in the first schema of the search path: the firm's.
        loader = sa.create_engine(crm_url, connect_args={"options": f"-c search_path={name}"})
        write_crm(loader, _firm(name), amounts_as_text=True)
        loader.dispose()
    monkeypatch.setenv("CRM_DATABASE_URL", crm_url)
    monkeypatch.setenv("WAREHOUSE_DATABASE_URL", warehouse_url)
    monkeypatch.setenv("SEGMENTATION_DATA_DOCS", str(tmp_path / "data_docs"))
    _cap_rules(tmp_path, monkeypatch)
    books = _load(tmp_path, POSTGRES_BOOKS)
    assert _run(build_definitions(books)).success

    warehouse = sa.create_engine(warehouse_url)
    assert not sa.inspect(warehouse).has_table("client_segments")  # not in public
    for name, (letter, _, _) in FIRMS.items():
        # The single-book job on this firm's CRM alone, into a schema of the same warehouse.
        monkeypatch.setenv("CRM_SCHEMA", name)
        monkeypatch.setenv("WAREHOUSE_SCHEMA", f"alone_{name}")
        (tmp_path / name).mkdir()
        Week(tmp_path / name, monkeypatch, crm_url, warehouse_url).rules(a_cap=CAP).run(WEEK)
        mine, alone = _in_schema(warehouse_url, f"seg_{name}"), _in_schema(
            warehouse_url, f"alone_{name}")
        segments = _segments(mine)
        _assert_own_households(segments, _segments(alone), letter)
        pd.testing.assert_frame_equal(_distribution(mine), _distribution(alone))
        issues = _read(mine, "data_quality_issues")
        assert issues["household_id"].dropna().str.startswith(f"{letter}-").all()
        _assert_cap_per_firm(segments)

    readme = (ROOT / "README.md").read_text("utf-8")
    create_view = readme.split("<!-- across-firms -->")[1].split("```sql")[1].split("```")[0]
    with warehouse.begin() as conn:
        for statement in filter(str.strip, create_view.split(";")):
            conn.execute(sa.text(statement))
        across = pd.read_sql(sa.text("SELECT firm, count(*) AS n FROM bi.client_segments_all "
                                     "GROUP BY firm ORDER BY firm"), conn)
    counts = {n: len(_segments(_in_schema(warehouse_url, f"seg_{n}"))) for n in FIRMS}
    assert dict(zip(across["firm"], across["n"], strict=True)) == counts
    warehouse.dispose()
