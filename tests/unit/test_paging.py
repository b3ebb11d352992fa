"""The keyset helper without a database: limits, cursors that round-trip, and cursors refused before any SQL."""

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
from sqlalchemy import select

from services.catalog.models import Category
from services.paging import MAX_LIMIT, InvalidCursorError, InvalidLimitError, Keyset, PageRequest, desc
from services.payment.models import Payment

CATEGORIES = Keyset("categories", Category.sort_order, Category.name, Category.id)
PAYMENTS = Keyset("payments", desc(Payment.created_at), Payment.id)


@dataclass
class Row:
    sort_order: int
    name: str
    id: UUID


def _cursor(document: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(document).encode()).decode().rstrip("=")


@pytest.mark.parametrize("limit", [0, -1, MAX_LIMIT + 1, 10**30])
def test_a_limit_out_of_range_is_refused(limit: int) -> None:
    with pytest.raises(InvalidLimitError) as refused:
        PageRequest(limit=limit)
    assert (refused.value.code, refused.value.status_code) == ("invalid_limit", 400)


def test_a_full_page_has_a_cursor_that_starts_the_next_one_after_its_last_row() -> None:
    rows = [Row(1, "b", uuid4()), Row(1, "c", uuid4()), Row(2, "a", uuid4())]
    assert CATEGORIES.page(rows[:2], PageRequest(limit=2)).next_cursor is None  # no extra row: the last page
    page = CATEGORIES.page(rows, PageRequest(limit=2))
    assert page.items == rows[:2] and page.next_cursor is not None
    statement = CATEGORIES.apply(select(Category), PageRequest(limit=2, cursor=page.next_cursor))
    compiled = statement.compile(compile_kwargs={"literal_binds": True})
    sql = " ".join(str(compiled).split())
    last = rows[1]
    assert f"categories.sort_order >= {last.sort_order}" in sql
    assert f"categories.sort_order > {last.sort_order}" in sql
    assert f"categories.name > '{last.name}'" in sql
    assert f"categories.name = '{last.name}' AND catalog.categories.id > '{last.id.hex}'" in sql
    assert "ORDER BY catalog.categories.sort_order ASC, catalog.categories.name ASC, catalog.categories.id ASC" in sql
    assert "LIMIT 3" in sql


def test_a_descending_column_pages_downwards() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)

    @dataclass
    class PaymentRow:
        created_at: datetime
        id: UUID

    rows = [PaymentRow(moment, uuid4()), PaymentRow(moment, uuid4())]
    cursor = PAYMENTS.page(rows, PageRequest(limit=1)).next_cursor
    assert cursor is not None
    statement = PAYMENTS.apply(select(Payment), PageRequest(limit=1, cursor=cursor))
    sql = " ".join(str(statement.compile()).split())
    assert "payments.created_at <= " in sql and "payments.created_at < " in sql and "payments.id > " in sql
    assert moment in statement.compile().params.values()  # microseconds survive the cursor


FORGED = {
    "no base64": "%%%",
    "base64 with padding inside": "eyJ=sa",
    "no JSON": _cursor("x")[:-1] + "!",
    "a JSON array": _cursor([1, "a", str(uuid4())]),
    "another list": _cursor({"list": "brands", "after": [1, "a", str(uuid4())]}),
    "an extra member": _cursor({"list": "categories", "after": [1, "a", str(uuid4())], "x": 1}),
    "too few values": _cursor({"list": "categories", "after": [1, "a"]}),
    "too many values": _cursor({"list": "categories", "after": [1, "a", str(uuid4()), 1]}),
    "a string for an int": _cursor({"list": "categories", "after": ["1", "a", str(uuid4())]}),
    "a float for an int": _cursor({"list": "categories", "after": [1.0, "a", str(uuid4())]}),
    "a bool for an int": _cursor({"list": "categories", "after": [True, "a", str(uuid4())]}),
    "an int beyond int32": _cursor({"list": "categories", "after": [2**31, "a", str(uuid4())]}),
    "a NUL in a name": _cursor({"list": "categories", "after": [1, "a\x00", str(uuid4())]}),
    "a name longer than the column": _cursor({"list": "categories", "after": [1, "a" * 201, str(uuid4())]}),
    "no uuid": _cursor({"list": "categories", "after": [1, "a", "not-a-uuid"]}),
    "null": _cursor({"list": "categories", "after": [None, "a", str(uuid4())]}),
    "nested arrays": _cursor({"list": "categories", "after": [[1], "a", str(uuid4())]}),
    "recursion": base64.urlsafe_b64encode(b"[" * 1500).decode().rstrip("="),
    "too long": "A" * 3000,
}


@pytest.mark.parametrize("cursor", list(FORGED.values()), ids=list(FORGED))
def test_a_malformed_or_forged_cursor_is_refused_before_any_statement(cursor: str) -> None:
    with pytest.raises(InvalidCursorError) as refused:
        CATEGORIES.apply(select(Category), PageRequest(cursor=cursor))
    assert (refused.value.code, refused.value.status_code) == ("invalid_cursor", 400)


@pytest.mark.parametrize(
    "moment", ["2026-01-02T03:04:05", "yesterday", "2026-13-01T00:00:00+00:00"], ids=["naive", "words", "month 13"]
)
def test_a_timestamp_that_is_no_instant_is_refused(moment: str) -> None:
    with pytest.raises(InvalidCursorError):
        PAYMENTS.apply(
            select(Payment), PageRequest(cursor=_cursor({"list": "payments", "after": [moment, str(uuid4())]}))
        )
