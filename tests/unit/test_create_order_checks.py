"""Checks of a create-order request (services.ordering.rules), in the order the seed runs them (contract 5.3).

Pure: no server. tests/api/test_order_flows.py shows one of them over HTTP (the 400 and its error body).
"""

import uuid
from typing import Any

import pytest

from services.errors import DomainError
from services.ordering.rules import check_create_order
from services.ordering.schemas import CreateOrderRequest

VARIANT = str(uuid.uuid4())


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
        check_create_order(CreateOrderRequest.model_validate(body))
    assert refused.value.code == code


def test_a_valid_request_is_trimmed() -> None:
    body = {
        "customerName": " Ada ",
        "customerEmail": " ada@example.com ",
        "items": [{"productVariantId": VARIANT, "quantity": 2}],
    }
    valid = check_create_order(CreateOrderRequest.model_validate(body))
    assert (valid.customer_name, valid.customer_email) == ("Ada", "ada@example.com")
    assert [(str(item.product_variant_id), item.quantity) for item in valid.items] == [(VARIANT, 2)]
