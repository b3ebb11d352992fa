"""Helpers for the statements that stores build once at import (`<context>/statements.py`).

A statement built at import costs a call neither its construction nor its cache key; a Core statement on a
model's table skips the ORM's per-execution compile state, and its rows are plain tuples.
"""

from typing import Any

from sqlalchemy import Table, TableValuedAlias, bindparam, column, func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeEngine


def unnest_rows(name: str, **columns: TypeEngine[Any]) -> TableValuedAlias:
    """The derived table `name(column, ...)` unnesting one array parameter per column, named after it.

    Lists travel as arrays, so a statement's text, and its prepared plan, is the same for any number of rows.
    """
    return (
        func.unnest(*(bindparam(key, type_=ARRAY(kind)) for key, kind in columns.items()))
        .table_valued(*(column(key, kind) for key, kind in columns.items()))
        .render_derived(name=name)
    )


def core_table(model: type[DeclarativeBase]) -> Table:
    """The table of a model, for Core statements: cheaper rows, and an insert's parameters stay parameters."""
    table = model.__table__
    assert isinstance(table, Table)
    return table
