"""The shared checks of request fields: one set of rules, each context's own words on the wire."""

import pytest

from services.catalog.errors import WORDING as CATALOG
from services.catalog.errors import CatalogError
from services.errors import DomainError
from services.inventory.errors import WORDING as INVENTORY
from services.inventory.errors import InventoryError
from services.validation import (
    BY_FIELD_NAME,
    PLAIN,
    Wording,
    check_length,
    currency_code,
    invariant_lower,
    invariant_upper,
    optional_text,
    required_text,
    storable,
)


def refusal(check: object) -> tuple[str, str, type[DomainError]]:
    assert callable(check)
    with pytest.raises(DomainError) as refused:
        check()
    return refused.value.code, refused.value.message, type(refused.value)


def test_text_is_trimmed_and_blank_optional_text_is_none() -> None:
    assert required_text("  Ada ", "customer_name") == "Ada"
    assert optional_text(" \t ", "carrier") is None
    assert optional_text(None, "carrier") is None
    assert optional_text(" DHL ", "carrier", max_length=3) == "DHL"


def test_checks_run_blank_then_length_then_nul() -> None:
    assert refusal(lambda: required_text("  ", "sku"))[0] == "sku_required"
    assert refusal(lambda: required_text("x" * 4 + "\x00", "sku", max_length=3))[0] == "sku_too_long"
    assert refusal(lambda: required_text("a\x00b", "sku", max_length=3))[0] == "sku_invalid"
    assert refusal(lambda: optional_text("a\x00", "reason"))[0] == "reason_invalid"


@pytest.mark.parametrize(
    ("wording", "expected"),
    [
        (
            PLAIN,
            [
                "Customer name is required",
                "Customer name must be at most 2 characters",
                "Customer name must not contain NUL characters",
            ],
        ),
        (
            CATALOG,
            [
                "Customer name is required.",
                "Customer name must be at most 2 characters long.",
                "Customer name must not contain NUL characters.",
            ],
        ),
        (
            BY_FIELD_NAME,
            [
                "customer_name is required.",
                "customer_name must be at most 2 characters.",
                "customer_name must not contain NUL characters.",
            ],
        ),
        (
            Wording(too_long="{label} exceeds {limit} characters"),
            [
                "Customer name is required",
                "Customer name exceeds 2 characters",
                "Customer name must not contain NUL characters",
            ],
        ),
    ],
)
def test_each_context_keeps_its_own_words(wording: Wording, expected: list[str]) -> None:
    messages = [
        refusal(lambda value=value: required_text(value, "customer_name", max_length=2, wording=wording))[1]
        for value in ("", "Ada", "A\x00")
    ]
    assert messages == expected


def test_a_label_replaces_the_one_derived_from_the_field() -> None:
    assert refusal(lambda: required_text("", "sku", label="SKU", wording=INVENTORY))[1] == "SKU is required"


def test_each_context_raises_its_own_error_class() -> None:
    assert refusal(lambda: required_text("", "sku", wording=INVENTORY))[2] is InventoryError
    assert refusal(lambda: check_length("abc", 2, "sku", wording=CATALOG))[2] is CatalogError
    assert refusal(lambda: required_text("", "sku"))[2] is DomainError


def test_currency_is_three_characters_and_stays_three_when_upper_cased() -> None:
    assert currency_code(" usd ") == "USD"
    # str.upper() would make "SSAB" of this, which no 3-character column holds
    assert currency_code("ßab") == "ßAB"
    for bad in (None, "", "US", "USDX", "U\x00D"):
        code, message, _ = refusal(lambda bad=bad: currency_code(bad))
        assert (code, message) == ("currency_invalid", "Currency must be a 3-letter code.")
    assert refusal(lambda: currency_code("US", CATALOG))[2] is CatalogError


def test_invariant_casing_maps_character_by_character() -> None:
    assert invariant_upper("straße ﬃ") == "STRAßE ﬃ"
    assert invariant_lower("İSTANBUL") == "İstanbul"


def test_storable_means_within_the_column_and_free_of_nul() -> None:
    assert storable("abc", 3)
    assert not storable("abcd", 3)
    assert not storable("a\x00", 3)
