"""Checks of a create-order request (services.ordering.rules), in the order the seed runs them (contract 5.3).

Pure: no server. tests/api/test_order_flows.py shows one of them over HTTP (the 400 and its error body).
"""

import uuid
from typing import Any

import pytest

from services.errors import DomainError
from services.ordering.rules import check_create_order, check_open_orders
from services.ordering.schemas import CreateOrderRequest
from services.validation import NO_CAPS, Caps

VARIANT = str(uuid.uuid4())
OTHER = str(uuid.uuid4())
CUSTOMER = Caps(units_per_line=10, open_orders_per_email=3)  # the settings' defaults


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "customer_name_required"),
        ({"customerName": " ", "customerEmail": "a@x", "items": []}, "customer_name_required"),
        ({"customerName": "A", "items": []}, "customer_email_required"),
        ({"customerName": "A", "customerEmail": "a@x", "items": []}, "order_items_required"),
        ({"customerName": "A", "customerEmail": "a@x"}, "order_items_required"),
        ({"customerName": "A", "customerEmail": "a@x", "items": [{"quantity": 1}]}, "product_variant_id_required"),
        ({"customerName": "A", "customerEmail": "a@x", "items": [{"productVariantId": VARIANT}]}, "quantity_invalid"),
        ({"customerName": "A", "customerEmail": "a@x", "items": [{"productVariantId": VARIANT, "quantity": -1}]},
         "quantity_invalid"),
        ({"customerName": "A", "customerEmail": "a@x", "items": [{"productVariantId": VARIANT, "quantity": 2**31}]},
         "quantity_invalid"),
        ({"customerName": "A" * 301, "customerEmail": "a@x", "items": []}, "customer_name_too_long"),
        ({"customerName": "A", "customerEmail": "a" * 321, "items": []}, "customer_email_too_long"),
        ({"customerName": "Ada\x00", "customerEmail": "a@x", "items": []}, "customer_name_invalid"),
        ({"customerName": "A", "customerEmail": "a@x", "items": [{"productVariantId": VARIANT, "quantity": 1}] * 501},
         "order_items_too_many"),
    ],
)  # fmt: skip
def test_create_order_bad_input(body: dict[str, Any], code: str) -> None:
    with pytest.raises(DomainError) as refused:
        check_create_order(CreateOrderRequest.model_validate(body), CUSTOMER)
    assert refused.value.code == code


def test_a_valid_request_is_trimmed() -> None:
    body = {
        "customerName": " Ada ",
        "customerEmail": " ada@example.com ",
        "items": [{"productVariantId": VARIANT, "quantity": 2}],
    }
    valid = check_create_order(CreateOrderRequest.model_validate(body), CUSTOMER)
    assert (valid.customer_name, valid.customer_email) == ("Ada", "ada@example.com")
    assert [(str(item.product_variant_id), item.quantity) for item in valid.items] == [(VARIANT, 2)]


def _order(*lines: tuple[str, int]) -> CreateOrderRequest:
    items = [{"productVariantId": variant, "quantity": quantity} for variant, quantity in lines]
    return CreateOrderRequest.model_validate({"customerName": "A", "customerEmail": "a@x", "items": items})


@pytest.mark.parametrize(
    "lines",
    [[(VARIANT, 11)], [(VARIANT, 95)], [(VARIANT, 6), (OTHER, 1), (VARIANT, 5)], [(VARIANT, 1)] * 11],
)
def test_more_units_of_one_item_than_the_cap_are_refused_naming_it(lines: list[tuple[str, int]]) -> None:
    with pytest.raises(DomainError) as refused:
        check_create_order(_order(*lines), CUSTOMER)
    assert refused.value.code == "too_many_units" and "at most 10 units" in refused.value.message


def test_the_cap_itself_and_other_items_pass_and_no_caps_is_no_cap() -> None:
    assert len(check_create_order(_order((VARIANT, 10), (OTHER, 10)), CUSTOMER).items) == 2
    assert check_create_order(_order((VARIANT, 95)), NO_CAPS).items[0].quantity == 95
    assert check_create_order(_order((VARIANT, 95)), Caps(units_per_line=0)).items[0].quantity == 95


def test_open_orders_up_to_the_cap_then_refused() -> None:
    check_open_orders(2, CUSTOMER)
    check_open_orders(99, NO_CAPS)
    with pytest.raises(DomainError) as refused:
        check_open_orders(3, CUSTOMER)
    assert refused.value.code == "too_many_open_orders" and "3 orders awaiting payment" in refused.value.message
