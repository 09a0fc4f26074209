"""The CRM, the warehouse and the rules, as Dagster resources built from the environment."""

import os
from pathlib import Path

import dagster as dg
import sqlalchemy as sa

from pipelines.books import Book
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
    schema_env_var: str | None
    default_url: str
    # A book's schema, from the books file; when set, $schema_env_var is not read.
    schema_name: str | None = None

    @property
    def url(self) -> str:
        url = os.environ.get(self.url_env_var) or self.default_url
        if not url:
            # A book has no default: falling back to the demo would mix up firms.
            raise ValueError(f"the environment variable {self.url_env_var} is not set")
        return url

    @property
    def schema(self) -> str | None:
        if self.schema_name:
            return identifier(self.schema_name, "the schema")
        value = os.environ.get(self.schema_env_var) if self.schema_env_var else None
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
    schema_env_var: str | None = "CRM_SCHEMA"
    default_url: str = DEMO_CRM_URL

    def engine(self) -> sa.Engine:
        return create_engine_for(self.url, read_only=True)


class WarehouseResource(_Database):
    """The warehouse BI reads: $WAREHOUSE_DATABASE_URL ($WAREHOUSE_SCHEMA), else SQLite."""

    url_env_var: str = "WAREHOUSE_DATABASE_URL"
    schema_env_var: str | None = "WAREHOUSE_SCHEMA"
    default_url: str = DEMO_WAREHOUSE_URL

    def location(self) -> tuple[str, str | None]:
        """The URL and schema the tables go to. SQLite has no schemas: there a schema is a
        warehouse file of its own beside the one named, `warehouse.<schema>.sqlite`."""
        url, schema = self.url, self.schema
        parsed = sa.engine.make_url(url)
        if not schema or parsed.get_backend_name() != "sqlite":
            return url, schema
        if not parsed.database or parsed.database == ":memory:":
            raise ValueError("a warehouse schema on SQLite needs a database file, not memory")
        main = Path(parsed.database)
        own = main.with_name(f"{main.stem}.{schema}{main.suffix or '.sqlite'}")
        return parsed.set(database=str(own)).render_as_string(hide_password=False), None

    def describe(self) -> str:
        url, schema = self.location()
        return redacted(url) + (f" (schema {schema})" if schema else "")

    def engine(self) -> sa.Engine:
        url, schema = self.location()
        engine = create_engine_for(url)
        if schema:
            return engine.execution_options(schema_translate_map={None: schema})
        return engine


def book_resources(book: Book) -> dict[str, _Database]:
    """A book's CRM and warehouse under its own resource keys, located as its file says."""
    return {
        book.crm_key: CrmDatabaseResource(url_env_var=book.crm_url_env, schema_env_var=None,
                                          default_url="", schema_name=book.crm_schema),
        book.warehouse_key: WarehouseResource(url_env_var=book.warehouse_url_env,
                                              schema_env_var=None, default_url="",
                                              schema_name=book.warehouse_schema),
    }


def crm_of(book: Book | None) -> CrmDatabaseResource:
    """The CRM of a book, or of the environment without one."""
    return book_resources(book)[book.crm_key] if book else CrmDatabaseResource()


def warehouse_of(book: Book | None) -> WarehouseResource:
    """The warehouse of a book, or of the environment without one."""
    return book_resources(book)[book.warehouse_key] if book else WarehouseResource()


class RulesResource(dg.ConfigurableResource):
    """The segmentation rules: $SEGMENTATION_RULES, else the packaged defaults."""

    path: str | None = None

    def load(self) -> Rules:
        return load_rules(self.path)
