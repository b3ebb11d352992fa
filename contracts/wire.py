"""Wire conventions shared by every DTO and contract model (see the contract, sections 1.3 and 1.4).

- camelCase names in and out, snake_case in Python;
- unknown input fields are ignored, nulls are always emitted;
- timestamps are UTC and written with a `+00:00` offset;
- request models give every field a default, so a missing field reaches the domain check that names it
  (e.g. a missing quantity becomes 0 and is refused as `quantity_invalid`), as the seed does;
- request property names match in any letter case (`RequestModel`), as System.Text.Json's web defaults do.
"""

from datetime import UTC, datetime
from functools import cache
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, PlainSerializer, model_validator
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


class RequestModel(WireModel):
    """Base of request bodies: `customerName`, `CustomerName` and `CUSTOMERNAME` all bind the same field."""

    @model_validator(mode="before")
    @classmethod
    def _names_in_any_case(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        names = _wire_names(cls)
        return {names.get(key.lower(), key) if isinstance(key, str) else key: value for key, value in data.items()}


@cache
def _wire_names(model: type[BaseModel]) -> dict[str, str]:
    """Lower-cased wire name -> wire name, for every field of `model`."""
    return {(field.alias or name).lower(): field.alias or name for name, field in model.model_fields.items()}


def utcnow() -> datetime:
    return datetime.now(UTC)
