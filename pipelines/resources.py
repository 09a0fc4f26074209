"""The CRM, the warehouse and the rules, as Dagster resources built from the environment."""

import os
from pathlib import Path

import dagster as dg
import sqlalchemy as sa

from segmentation.db import create_engine_for, redacted
from segmentation.rules import Rules, load_rules

VAR = Path(os.environ.get("SEGMENTATION_VAR", Path(__file__).resolve().parents[1] / "var"))
DEMO_CRM_URL = f"sqlite:///{VAR / 'demo_crm.sqlite'}"
DEMO_WAREHOUSE_URL = f"sqlite:///{VAR / 'warehouse.sqlite'}"


class CrmDatabaseResource(dg.ConfigurableResource):
    """The firm's CRM, read only: $CRM_DATABASE_URL, else the generated demo CRM."""

    url_env_var: str = "CRM_DATABASE_URL"

    @property
    def url(self) -> str:
        return os.environ.get(self.url_env_var) or DEMO_CRM_URL

    def engine(self) -> sa.Engine:
        return create_engine_for(self.url, read_only=True)

    def describe(self) -> str:
        return redacted(self.url)


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse BI reads: $WAREHOUSE_DATABASE_URL, else a SQLite file beside the demo."""

    url_env_var: str = "WAREHOUSE_DATABASE_URL"

    @property
    def url(self) -> str:
        return os.environ.get(self.url_env_var) or DEMO_WAREHOUSE_URL

    def engine(self) -> sa.Engine:
        return create_engine_for(self.url)

    def describe(self) -> str:
        return redacted(self.url)


class RulesResource(dg.ConfigurableResource):
    """The segmentation rules: $SEGMENTATION_RULES, else the packaged defaults."""

    path: str | None = None

    def load(self) -> Rules:
        return load_rules(self.path)
