"""Tables owned by the payment context, all in the `payment` PostgreSQL schema."""

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

SCHEMA = "payment"


class Base(DeclarativeBase):
    metadata = MetaData(schema=SCHEMA)
