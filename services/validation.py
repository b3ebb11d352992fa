"""The checks every context applies to what a request carries: text fields, integer ranges, currency codes.

The codes are the same in every context (`<field>_required`, `<field>_too_long`, `<field>_invalid`); the words
of the messages, and the error class raised, are each context's own (its `Wording`, kept in its `errors.py`),
because the seed's services worded them differently and the wire keeps their words.

Text is trimmed before it is checked. A NUL is refused (`<field>_invalid`) because PostgreSQL cannot store it:
a refusal here beats a database error, or an activity retrying a write that can never succeed.
"""

from collections.abc import Callable
from dataclasses import dataclass

from services.errors import DomainError

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
CURRENCY_LENGTH = 3


@dataclass(frozen=True)
class Wording:
    """How a context words its refusals of a text field. Templates see `{label}`, `{field}` and `{limit}`."""

    required: str = "{label} is required"
    too_long: str = "{label} must be at most {limit} characters"
    invalid: str = "{label} must not contain NUL characters"
    error: Callable[[str, str], DomainError] = DomainError

    def refuse(self, suffix: str, template: str, field: str, label: str | None, limit: int = 0) -> DomainError:
        message = template.format(label=label or default_label(field), field=field, limit=limit)
        return self.error(f"{field}_{suffix}", message)


PLAIN = Wording()
# payment and fulfillment name the field itself in their messages
BY_FIELD_NAME = Wording(
    required="{field} is required.",
    too_long="{field} must be at most {limit} characters.",
    invalid="{field} must not contain NUL characters.",
)


def default_label(field: str) -> str:
    """`customer_name` -> `Customer name`."""
    return field.replace("_", " ").capitalize()


def invariant_upper(value: str) -> str:
    """Upper-case character by character, as .NET's invariant casing: "ß" stays one character, not "SS"."""
    return "".join(upper if len(upper := char.upper()) == 1 else char for char in value)


def invariant_lower(value: str) -> str:
    """Lower-case character by character, as .NET's invariant casing."""
    return "".join(lower if len(lower := char.lower()) == 1 else char for char in value)


def storable(value: str, max_length: int) -> bool:
    """Whether a column of `max_length` characters could hold `value` (a read need not look further if not)."""
    return len(value) <= max_length and "\x00" not in value


def check_no_nul(value: str, field: str, *, label: str | None = None, wording: Wording = PLAIN) -> None:
    if "\x00" in value:
        raise wording.refuse("invalid", wording.invalid, field, label)


def check_length(
    value: str | None, max_length: int, field: str, *, label: str | None = None, wording: Wording = PLAIN
) -> None:
    if value is not None and len(value) > max_length:
        raise wording.refuse("too_long", wording.too_long, field, label, max_length)


def optional_text(
    value: str | None,
    field: str,
    *,
    max_length: int | None = None,
    label: str | None = None,
    wording: Wording = PLAIN,
) -> str | None:
    """Trimmed; blank is None. Then over-long is `<field>_too_long`, a NUL `<field>_invalid`."""
    text = (value or "").strip()
    if not text:
        return None
    if max_length is not None:
        check_length(text, max_length, field, label=label, wording=wording)
    check_no_nul(text, field, label=label, wording=wording)
    return text


def required_text(
    value: str | None,
    field: str,
    *,
    max_length: int | None = None,
    label: str | None = None,
    wording: Wording = PLAIN,
) -> str:
    """`optional_text`, but blank is `<field>_required`, checked first."""
    text = optional_text(value, field, max_length=max_length, label=label, wording=wording)
    if text is None:
        raise wording.refuse("required", wording.required, field, label)
    return text


@dataclass(frozen=True)
class Caps:
    """What one anonymous caller may hold at once, so that nobody reserves a shop's stock away (0: no cap).

    The settings give a customer's (`MAX_UNITS_PER_LINE`, `MAX_OPEN_ORDERS_PER_EMAIL`); an operator's are
    `NO_CAPS`.
    """

    units_per_line: int = 0
    open_orders_per_email: int = 0


NO_CAPS = Caps()


class TooManyUnitsError(DomainError):
    def __init__(self, limit: int) -> None:
        super().__init__("too_many_units", f"An order or a cart can hold at most {limit} units of one item")


def check_units_per_line(quantity: int, caps: Caps) -> None:
    """The one check of the units of one item, in an order (its lines of the item together) or a cart line."""
    if caps.units_per_line and quantity > caps.units_per_line:
        raise TooManyUnitsError(caps.units_per_line)


def currency_code(value: str | None, wording: Wording = PLAIN) -> str:
    """A trimmed 3-letter code, upper-cased character by character (so it stays 3 characters long)."""
    currency = (value or "").strip()
    if len(currency) != CURRENCY_LENGTH or "\x00" in currency:
        raise wording.error("currency_invalid", "Currency must be a 3-letter code.")
    return invariant_upper(currency)
