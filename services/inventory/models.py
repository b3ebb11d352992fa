"""Tables owned by the inventory context, all in the `inventory` PostgreSQL schema."""

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

SCHEMA = "inventory"


class Base(DeclarativeBase):
    metadata = MetaData(schema=SCHEMA)
