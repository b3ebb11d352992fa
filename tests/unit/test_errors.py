"""One not-found error per resource: a command naming an unknown one answers what the seed answered, a read 404."""

from uuid import uuid4

import pytest

from services.cart.errors import CartNotFoundError
from services.catalog.errors import CatalogError, ProductNotFoundError
from services.errors import NotFoundError
from services.inventory.errors import InventoryError, ReservationNotFoundError, StockItemNotFoundError
from services.ordering.errors import OrderNotFoundError
from services.payment.errors import PaymentNotFoundError


@pytest.mark.parametrize(
    ("command", "read"),
    [
        (ProductNotFoundError(uuid4()), ProductNotFoundError(uuid4(), read=True)),
        (PaymentNotFoundError(uuid4()), PaymentNotFoundError(uuid4(), read=True)),
        (OrderNotFoundError(), OrderNotFoundError(read=True)),
    ],
)
def test_a_command_naming_an_unknown_resource_is_a_400_and_its_read_a_404(
    command: NotFoundError, read: NotFoundError
) -> None:
    assert (command.status_code, read.status_code) == (400, 404)
    assert command.code == read.code and command.code.endswith("_not_found")


def test_where_the_seed_answers_commands_with_404_the_error_says_so() -> None:
    assert CartNotFoundError(uuid4()).status_code == 404


def test_a_context_still_catches_its_not_found_errors_as_its_own_refusals() -> None:
    assert isinstance(ProductNotFoundError(uuid4()), CatalogError)
    for error in (StockItemNotFoundError("SKU"), ReservationNotFoundError(uuid4())):
        assert isinstance(error, InventoryError) and isinstance(error, NotFoundError)
        assert error.status_code == 400
