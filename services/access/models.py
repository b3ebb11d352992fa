"""Tables owned by the access context, all in the `access` PostgreSQL schema."""

from datetime import datetime

from sqlalchemy import DateTime, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SCHEMA = "access"


class Base(DeclarativeBase):
    metadata = MetaData(schema=SCHEMA)


class RevokedSession(Base):
    """A console session ended at logout; kept until its own expiry, after which its signature refuses it."""

    __tablename__ = "revoked_sessions"

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
