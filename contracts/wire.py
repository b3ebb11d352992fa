"""Wire conventions shared by every DTO and contract model (see the contract, sections 1.3 and 1.4).

- camelCase names in and out, snake_case in Python;
- unknown input fields are ignored, nulls are always emitted;
- timestamps are UTC and written with a `+00:00` offset;
- request models give every field a default, so a missing field reaches the domain check that names it
  (e.g. a missing quantity becomes 0 and is refused as `quantity_invalid`), as the seed does.
"""

from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, PlainSerializer
from pydantic.alias_generators import to_camel

ZERO_UUID = UUID(int=0)


def _utc_iso(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


UtcDateTime = Annotated[datetime, PlainSerializer(_utc_iso, return_type=str, when_used="json")]


class WireModel(BaseModel):
    """Base of every request and response body."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        from_attributes=True,
        extra="ignore",
    )


def utcnow() -> datetime:
    return datetime.now(UTC)
