"""The CRM, the warehouse and the rules, as Dagster resources built from the environment."""

import os
from pathlib import Path

import dagster as dg
import sqlalchemy as sa

from segmentation.db import create_engine_for, identifier, redacted, with_retries
from segmentation.rules import Rules, load_rules

VAR = Path(os.environ.get("SEGMENTATION_VAR", Path(__file__).resolve().parents[1] / "var"))
DEMO_CRM_URL = f"sqlite:///{VAR / 'demo_crm.sqlite'}"
DEMO_WAREHOUSE_URL = f"sqlite:///{VAR / 'warehouse.sqlite'}"


class _Database(dg.ConfigurableResource):
    """A database named by environment variables; its URL never enters Dagster's config."""

    attempts: int = 4
    backoff_seconds: float = 2.0

    url_env_var: str
    schema_env_var: str
    default_url: str

    @property
    def url(self) -> str:
        return os.environ.get(self.url_env_var) or self.default_url

    @property
    def schema(self) -> str | None:
        value = os.environ.get(self.schema_env_var)
        return identifier(value, self.schema_env_var) if value else None

    def describe(self) -> str:
        return redacted(self.url) + (f" (schema {self.schema})" if self.schema else "")

    def retrying(self, action, what: str):
        """Run `action`, retrying lost or refused connections with a doubling backoff."""
        return with_retries(action, what=f"{what} at {redacted(self.url)}",
                            attempts=self.attempts, backoff_seconds=self.backoff_seconds)


class CrmDatabaseResource(_Database):
    """The firm's CRM, read only: $CRM_DATABASE_URL ($CRM_SCHEMA), else the demo CRM."""

    url_env_var: str = "CRM_DATABASE_URL"
    schema_env_var: str = "CRM_SCHEMA"
    default_url: str = DEMO_CRM_URL

    def engine(self) -> sa.Engine:
        return create_engine_for(self.url, read_only=True)


class WarehouseResource(_Database):
    """The warehouse BI reads: $WAREHOUSE_DATABASE_URL ($WAREHOUSE_SCHEMA), else SQLite."""

    url_env_var: str = "WAREHOUSE_DATABASE_URL"
    schema_env_var: str = "WAREHOUSE_SCHEMA"
    default_url: str = DEMO_WAREHOUSE_URL

    def engine(self) -> sa.Engine:
        engine = create_engine_for(self.url)
        if self.schema:
            return engine.execution_options(schema_translate_map={None: self.schema})
        return engine


class RulesResource(dg.ConfigurableResource):
    """The segmentation rules: $SEGMENTATION_RULES, else the packaged defaults."""

    path: str | None = None

    def load(self) -> Rules:
        return load_rules(self.path)
