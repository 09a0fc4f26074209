"""The books file: which firms a dealer network segments, each into its own warehouse schema.

A firm is the unit that runs alone: the A cap and the value percentiles are computed over its
whole book. The file names environment variables, never a URL: credentials stay in the
environment.
"""

import os
import re
from pathlib import Path

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

BOOKS_ENV = "SEGMENTATION_BOOKS"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_SCHEMA = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,127}$")


class BooksError(ValueError):
    """The books file cannot be read or breaks one of its rules."""


class Book(BaseModel):
    """One firm: where its CRM is read and which warehouse schema receives its segments."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    crm_schema: str | None = None
    warehouse_schema: str
    crm_url_env: str = "CRM_DATABASE_URL"
    warehouse_url_env: str = "WAREHOUSE_DATABASE_URL"

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("must be lowercase letters, digits and _, starting with a letter "
                             "(at most 40 characters)")
        return value

    @field_validator("crm_schema", "warehouse_schema")
    @classmethod
    def _plain_schema(cls, value: str | None) -> str | None:
        if value is not None and not _SCHEMA.match(value):
            raise ValueError("must be a lowercase SQL identifier: letters, digits and _, "
                             "not starting with a digit")
        return value

    @field_validator("crm_url_env", "warehouse_url_env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        # The value is never repeated in the message: it may be a URL holding a password.
        if "://" in value or "@" in value:
            raise ValueError("must be the NAME of an environment variable holding the URL, "
                             "never the URL itself")
        if not _ENV_NAME.match(value):
            raise ValueError("must be an environment variable name: A-Z, 0-9 and _")
        return value

    @property
    def crm_key(self) -> str:
        return f"crm_{self.name}"

    @property
    def warehouse_key(self) -> str:
        return f"warehouse_{self.name}"


class BooksFile(BaseModel):
    """The whole file: one or more books, names and warehouse schemas each used once."""

    model_config = ConfigDict(extra="forbid")

    books: list[Book] = Field(min_length=1)

    @model_validator(mode="after")
    def _distinct(self) -> "BooksFile":
        for field in ("name", "warehouse_schema"):
            values = [getattr(b, field) for b in self.books]
            twice = sorted({v for v in values if values.count(v) > 1})
            if twice:
                raise ValueError(f"{field} {', '.join(twice)} is given to more than one book")
        return self


class _UniqueKeys(yaml.SafeLoader):
    """Safe YAML that refuses a key written twice in one mapping."""


def _mapping(loader: _UniqueKeys, node: yaml.MappingNode, deep: bool = False):
    keys = [loader.construct_object(k, deep=deep) for k, _ in node.value]
    for key in keys:
        if keys.count(key) > 1:
            raise BooksError(f"the key {key!r} is written twice "
                             f"(line {node.start_mark.line + 1})")
    return loader.construct_mapping(node, deep)


_UniqueKeys.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def _where(loc: tuple, data) -> str:
    """`books[1] (south).warehouse_schema` for a pydantic error location."""
    parts = []
    for part in loc:
        if isinstance(part, int):
            parts.append(f"[{part}]")
            try:
                name = data["books"][part]["name"]
            except (KeyError, IndexError, TypeError):
                name = None
            if isinstance(name, str) and _NAME.match(name):
                parts.append(f" ({name})")
        else:
            parts.append(("." if parts else "") + str(part))
    return "".join(parts) or "books"


def load_books(path: str | os.PathLike) -> list[Book]:
    """Read and validate a books file; any problem raises BooksError naming it (never a value)."""
    source = Path(path)
    try:
        text = source.read_text("utf-8")
    except OSError as exc:
        raise BooksError(f"cannot read the books file {source}: {exc.strerror}") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeys)  # noqa: S506 - a SafeLoader
    except BooksError as exc:
        raise BooksError(f"the books file {source} is not valid: {exc}") from None
    except yaml.YAMLError as exc:
        # Only the position: YAML's own message quotes the line, which could hold a secret.
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise BooksError(f"the books file {source} is not valid YAML{where}") from None
    if not isinstance(data, dict):
        raise BooksError(f"the books file {source} must hold a mapping with the key 'books'")
    try:
        return BooksFile.model_validate(data).books
    except ValidationError as exc:
        lines = [f"the books file {source} is not valid:"]
        for item in exc.errors():
            message = item["msg"].removeprefix("Value error, ")
            if item["type"] == "extra_forbidden":
                message = "unknown key"
            lines.append(f"  {_where(item['loc'], data)}: {message}")
        raise BooksError("\n".join(lines)) from None


def books_from_env() -> list[Book] | None:
    """The books of the file named by $SEGMENTATION_BOOKS, or None when it is not set."""
    path = os.environ.get(BOOKS_ENV)
    return load_books(path) if path else None


def find_book(books: list[Book], name: str) -> Book:
    """The book called `name`, or BooksError listing the names there are."""
    for book in books:
        if book.name == name:
            return book
    raise BooksError(f"no book is named {name!r}; the books are "
                     + ", ".join(b.name for b in books))


def selected_books(name: str | None) -> list[Book | None]:
    """The books a command covers: the one named, every book of $SEGMENTATION_BOOKS, or [None]
    for the environment's single CRM when no books file is set."""
    books = books_from_env()
    if not books:
        if name:
            raise BooksError(f"--book {name}: no books file; set {BOOKS_ENV} to one")
        return [None]
    return [find_book(books, name)] if name else books
