"""Wire conventions that hold for every request body (contract section 1.3)."""

import uuid

from services.ordering.schemas import CreateOrderRequest


def test_request_property_names_bind_in_any_letter_case_nested_ones_too() -> None:
    variant = uuid.uuid4()
    body = {
        "CustomerName": "Ada",
        "CUSTOMEREMAIL": "ada@example.com",
        "items": [{"productvariantid": str(variant), "Quantity": "2"}],
        "Unknown": "ignored",
    }
    request = CreateOrderRequest.model_validate(body)
    assert (request.customer_name, request.customer_email) == ("Ada", "ada@example.com")
    assert request.items is not None
    assert [(item.product_variant_id, item.quantity) for item in request.items] == [(variant, 2)]


def test_exact_camel_case_and_python_names_still_bind() -> None:
    assert CreateOrderRequest.model_validate({"customerName": "Ada"}).customer_name == "Ada"
    assert CreateOrderRequest.model_validate({"customer_name": "Ada"}).customer_name == "Ada"
