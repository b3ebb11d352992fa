"""Free-text fields the stores keep as given, within their column's length."""

from services.errors import DomainError


def optional_text(value: str | None, field: str, max_length: int) -> str | None:
    """Trimmed; blank becomes None. Over-long is `<field>_too_long`, a NUL (PostgreSQL rejects it) `<field>_invalid`."""
    text = (value or "").strip()
    if len(text) > max_length:
        raise DomainError(f"{field}_too_long", f"{field} must be at most {max_length} characters.")
    if "\x00" in text:
        raise DomainError(f"{field}_invalid", f"{field} must not contain NUL characters.")
    return text or None
