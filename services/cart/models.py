"""Tables owned by the cart context, all in the `cart` PostgreSQL schema."""

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

SCHEMA = "cart"


class Base(DeclarativeBase):
    metadata = MetaData(schema=SCHEMA)
