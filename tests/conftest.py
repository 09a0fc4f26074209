"""Shared fixtures: a CRM built from example households, and the weekly job run in-process."""

import datetime as dt
import os
import sys
import uuid
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

sys.path.insert(0, str(Path(__file__).parent))

from pipelines.resources import (  # noqa: E402
    CrmDatabaseResource,
    RulesResource,
    WarehouseResource,
)
from segmentation.crm import create_crm  # noqa: E402
from segmentation.rules import load_rules  # noqa: E402


class Week:
    """One SQLite CRM and warehouse in a temporary folder, and a way to run a week on them."""

    def __init__(self, tmp_path: Path, monkeypatch, crm_url: str | None = None,
                 warehouse_url: str | None = None):
        self.dir = tmp_path
        self.crm_url = crm_url or f"sqlite:///{tmp_path / 'crm.sqlite'}"
        self.warehouse_url = warehouse_url or f"sqlite:///{tmp_path / 'warehouse.sqlite'}"
        self.monkeypatch = monkeypatch
        monkeypatch.setenv("CRM_DATABASE_URL", self.crm_url)
        monkeypatch.setenv("WAREHOUSE_DATABASE_URL", self.warehouse_url)
        monkeypatch.delenv("SEGMENTATION_RULES", raising=False)
        monkeypatch.setenv("SEGMENTATION_DATA_DOCS", str(tmp_path / "data_docs"))

    def crm(self, rows: dict[str, list[dict]], **kwargs) -> "Week":
        create_crm(sa.create_engine(self.crm_url), rows, **kwargs)
        return self

    def rules(self, **changes) -> "Week":
        """Use the default rules with some keys changed (dotted paths: `potential.value_band`)."""
        data = load_rules().model_dump(mode="json")
        for dotted, value in changes.items():
            node = data
            *path, last = dotted.split(".")
            for key in path:
                node = node[key]
            node[last] = value
        path = self.dir / "rules.yaml"
        path.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
        self.monkeypatch.setenv("SEGMENTATION_RULES", str(path))
        return self

    def run(self, as_of: dt.date | str, *, raise_on_error: bool = True, instance=None):
        """Materialize every asset for the week of `as_of`, in process, as the schedule would."""
        return dg.materialize(
            _assets(),
            partition_key=str(as_of),
            resources=RESOURCES,
            instance=instance or dg.DagsterInstance.ephemeral(),
            raise_on_error=raise_on_error,
            run_config=QUIET,
        )

    def env(self) -> dict[str, str]:
        """The process environment a subprocess needs to run this week's databases."""
        return {**os.environ, "CRM_DATABASE_URL": self.crm_url,
                "WAREHOUSE_DATABASE_URL": self.warehouse_url,
                "SEGMENTATION_DATA_DOCS": str(self.dir / "data_docs")}

    def warehouse_bytes(self) -> bytes:
        """The warehouse file as it is on disk, to prove a failed run left it untouched."""
        return (self.dir / "warehouse.sqlite").read_bytes()

    def table(self, name: str) -> pd.DataFrame:
        with sa.create_engine(self.warehouse_url).connect() as conn:
            return pd.read_sql(sa.text(f"SELECT * FROM {name}"), conn)


QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
RESOURCES = {"crm": CrmDatabaseResource(), "warehouse": WarehouseResource(),
             "rules": RulesResource()}


def _assets():
    from pipelines import assets

    return dg.load_assets_from_modules([assets])


@pytest.fixture
def week(tmp_path, monkeypatch) -> Week:
    return Week(tmp_path, monkeypatch)


POSTGRES_URL = os.environ.get("SEGMENTATION_TEST_POSTGRES_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/test")
HOW_TO_POSTGRES = (
    "no PostgreSQL server answers at SEGMENTATION_TEST_POSTGRES_URL (default "
    "postgresql+psycopg://postgres@127.0.0.1:5432/test); start one, or point the variable at a "
    "server where this user may create databases")


@pytest.fixture(scope="session")
def postgres_admin() -> sa.Engine:
    """An autocommit engine on the test server; skips (fails in CI) when none answers."""
    engine = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError:
        if os.environ.get("SEGMENTATION_REQUIRE_POSTGRES"):
            pytest.fail(HOW_TO_POSTGRES)
        pytest.skip(HOW_TO_POSTGRES)
    return engine


@pytest.fixture
def postgres_database(postgres_admin):
    """A factory of fresh, empty databases on the test server, dropped afterwards."""
    created = []

    def make(label: str) -> str:
        name = f"segtest_{label}_{uuid.uuid4().hex[:8]}"
        with postgres_admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        created.append(name)
        return postgres_admin.url.set(database=name).render_as_string(hide_password=False)

    yield make
    with postgres_admin.connect() as conn:
        for name in created:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
