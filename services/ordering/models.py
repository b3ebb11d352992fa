"""Tables owned by the ordering context, all in the `ordering` PostgreSQL schema."""

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

SCHEMA = "ordering"


class Base(DeclarativeBase):
    metadata = MetaData(schema=SCHEMA)
