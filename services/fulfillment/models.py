"""Tables owned by the fulfillment context, all in the `fulfillment` PostgreSQL schema."""

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

SCHEMA = "fulfillment"


class Base(DeclarativeBase):
    metadata = MetaData(schema=SCHEMA)
