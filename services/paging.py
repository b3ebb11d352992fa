"""Keyset pagination, once for every list: a page starts after the sort key of the previous page's last row.

A list declares its order as a `Keyset` (columns with their directions, ending in a unique column), and its
store method applies it to the query (`where` the rows come after the cursor, `order by`, `limit + 1`) and
cuts the fetched rows into a `PageResult`. The extra row only says whether there is a next page.

Keyset, not OFFSET: a page boundary is a position in the sort order, not a row count, so rows inserted or
removed between two page fetches never make a page skip or repeat a row that was there throughout.

The cursor is opaque to clients: base64url (unpadded) of a small JSON document naming the list and holding
the last row's key values. A cursor that does not decode, names another list, or holds values that do not fit
the list's columns (wrong type, NUL, out of range) is refused as `invalid_cursor` before any statement runs.
A hand-made cursor that does fit only chooses where a list the caller may read anyway starts.
"""

import base64
import binascii
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar, TypeVarTuple
from uuid import UUID

from sqlalchemy import BigInteger, ColumnElement, DateTime, Integer, Select, String, Uuid, and_, or_
from sqlalchemy.orm import InstrumentedAttribute

from services.errors import DomainError
from services.validation import INT32_MAX, INT64_MAX

DEFAULT_LIMIT = 100
MAX_LIMIT = 500
# A cursor holds at most a few short keys; anything longer is not one of ours.
MAX_CURSOR_LENGTH = 2048

_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


class InvalidLimitError(DomainError):
    def __init__(self, limit: int) -> None:
        super().__init__("invalid_limit", f"limit must be between 1 and {MAX_LIMIT}, not {limit}.")


class InvalidCursorError(DomainError):
    def __init__(self) -> None:
        super().__init__("invalid_cursor", "cursor is not a cursor of this list; start again without one.")


@dataclass(frozen=True)
class PageRequest:
    """Which page of a list: at most `limit` rows, after the position `cursor` names (None: the first page)."""

    limit: int = DEFAULT_LIMIT
    cursor: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_LIMIT:
            raise InvalidLimitError(self.limit)


FIRST_PAGE = PageRequest()


@dataclass(frozen=True)
class PageResult(Generic[T]):
    """One page of a list, and the cursor of the next page (None on the last page)."""

    items: list[T]
    next_cursor: str | None


@dataclass(frozen=True)
class _Column:
    attribute: InstrumentedAttribute[Any]
    descending: bool

    def parse(self, value: object) -> object:
        """The cursor's JSON value as this column's Python value; InvalidCursorError when it does not fit."""
        column_type = self.attribute.type
        if isinstance(column_type, Uuid) and isinstance(value, str):
            try:
                return UUID(value)
            except ValueError:
                raise InvalidCursorError() from None
        if isinstance(column_type, DateTime) and isinstance(value, str):
            try:
                moment = datetime.fromisoformat(value)
            except ValueError:
                raise InvalidCursorError() from None
            if moment.tzinfo is None:
                raise InvalidCursorError()
            return moment
        if isinstance(column_type, String) and isinstance(value, str):
            if "\x00" in value or (column_type.length is not None and len(value) > column_type.length):
                raise InvalidCursorError()
            return value
        if isinstance(column_type, Integer) and type(value) is int:
            bound = INT64_MAX if isinstance(column_type, BigInteger) else INT32_MAX
            if -bound - 1 <= value <= bound:
                return value
        raise InvalidCursorError()

    @staticmethod
    def dump(value: object) -> str | int:
        if isinstance(value, UUID):
            return str(value)
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, str | int):
            return value
        raise TypeError(f"a keyset column of type {type(value).__name__} cannot be put in a cursor")


class Keyset:
    """The order of one list: `Keyset("brands", Brand.name, Brand.id)`; `desc(column)` for a descending one.

    The last column must be unique, so the key of a row is unique and every row has one place in the order.
    A page's rows carry their key values under the columns' attribute names (`row.name`, `row.id`).
    """

    def __init__(self, name: str, *columns: "InstrumentedAttribute[Any] | _Column") -> None:
        self.name = name
        self._columns = [c if isinstance(c, _Column) else _Column(c, descending=False) for c in columns]

    def apply(self, query: Select[*Ts], page: PageRequest) -> Select[*Ts]:
        """The query ordered by this keyset, starting after the page's cursor, with one row more than the page."""
        order = [c.attribute.desc() if c.descending else c.attribute.asc() for c in self._columns]
        query = query.order_by(*order).limit(page.limit + 1)
        if page.cursor is None:
            return query
        return query.where(self._after(self._decode(page.cursor)))

    def page(self, rows: Sequence[T], page: PageRequest, key_of: Callable[[T], object] | None = None) -> PageResult[T]:
        """The rows of `apply`'s query cut to the page; `key_of` finds the object holding a row's key values."""
        items = list(rows[: page.limit])
        if len(rows) <= page.limit:
            return PageResult(items, None)
        last = key_of(items[-1]) if key_of is not None else items[-1]
        return PageResult(items, self._encode([getattr(last, c.attribute.key) for c in self._columns]))

    def _after(self, values: Sequence[object]) -> ColumnElement[bool]:
        # Rows after the cursor: equal on the first i-1 columns and past it on column i, for some i. The bound on
        # the first column alone is implied, and lets PostgreSQL range-scan an index on it.
        alternatives = []
        for i, column in enumerate(self._columns):
            equal = [c.attribute == v for c, v in zip(self._columns[:i], values, strict=False)]
            past = column.attribute < values[i] if column.descending else column.attribute > values[i]
            alternatives.append(and_(*equal, past))
        first = self._columns[0]
        bound = first.attribute <= values[0] if first.descending else first.attribute >= values[0]
        return and_(bound, or_(*alternatives))

    def _encode(self, values: Sequence[object]) -> str:
        document = json.dumps({"list": self.name, "after": [_Column.dump(v) for v in values]}, separators=(",", ":"))
        return base64.urlsafe_b64encode(document.encode()).rstrip(b"=").decode()

    def _decode(self, cursor: str) -> list[object]:
        if len(cursor) > MAX_CURSOR_LENGTH or not _BASE64URL.fullmatch(cursor):
            raise InvalidCursorError()
        try:
            document = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        except (binascii.Error, ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            raise InvalidCursorError() from None
        if not isinstance(document, dict) or set(document) != {"list", "after"} or document["list"] != self.name:
            raise InvalidCursorError()
        values = document["after"]
        if not isinstance(values, list) or len(values) != len(self._columns):
            raise InvalidCursorError()
        return [column.parse(value) for column, value in zip(self._columns, values, strict=True)]


def desc(attribute: InstrumentedAttribute[Any]) -> _Column:
    """A keyset column sorted in descending order."""
    return _Column(attribute, descending=True)
