"""The settle decisions of a payment and a shipment (`decide_settle` in their stores): every status against every
target, with and without the repeat an activity retry makes. The stores only run the transaction around them."""

from uuid import uuid4

import pytest

from contracts.order import Verdict
from services.errors import DomainError
from services.fulfillment.schemas import ShipmentStatus
from services.fulfillment.store import decide_settle as decide_shipment
from services.payment.schemas import PaymentStatus
from services.payment.store import decide_settle as decide_payment

A, N = Verdict.APPLY, Verdict.NOOP
P = PaymentStatus
S = ShipmentStatus

# (status, target, repeat_ok) -> the verdict, or the refusal's error code
PAYMENT = {
    (P.PENDING, P.SUCCEEDED, False): A,
    (P.PENDING, P.SUCCEEDED, True): A,
    (P.PENDING, P.FAILED, False): A,
    (P.PENDING, P.FAILED, True): A,
    (P.SUCCEEDED, P.SUCCEEDED, False): "payment_not_pending",
    (P.SUCCEEDED, P.SUCCEEDED, True): N,
    (P.SUCCEEDED, P.FAILED, True): "payment_not_pending",
    (P.FAILED, P.FAILED, False): "payment_not_pending",
    (P.FAILED, P.FAILED, True): N,
    (P.FAILED, P.SUCCEEDED, True): "payment_not_pending",
    (P.CANCELLED, P.SUCCEEDED, True): "payment_not_pending",
    (P.CANCELLED, P.FAILED, True): "payment_not_pending",
    (P.REFUNDED, P.SUCCEEDED, True): "payment_not_pending",  # a refunded payment is not succeeded again
    (P.REFUNDED, P.FAILED, True): "payment_not_pending",
}

SHIPMENT = {
    (S.PENDING, S.SHIPPED, False): A,
    (S.PENDING, S.SHIPPED, True): A,
    (S.PENDING, S.CANCELLED, False): A,
    (S.SHIPPED, S.SHIPPED, False): "shipment_cannot_be_shipped",
    (S.SHIPPED, S.SHIPPED, True): N,
    (S.CANCELLED, S.SHIPPED, True): "shipment_cannot_be_shipped",
    (S.CANCELLED, S.CANCELLED, False): "shipment_cannot_be_cancelled",
    (S.SHIPPED, S.CANCELLED, False): "shipment_cannot_be_cancelled",
}


def _outcome(decide: object, status: object, target: object, repeat_ok: bool) -> Verdict | str:
    assert callable(decide)
    try:
        verdict = decide(uuid4(), status, target, repeat_ok=repeat_ok)
    except DomainError as refusal:
        return refusal.code
    assert isinstance(verdict, Verdict)
    return verdict


@pytest.mark.parametrize(("case", "expected"), PAYMENT.items(), ids=str)
def test_payment_settle(case: tuple[PaymentStatus, PaymentStatus, bool], expected: Verdict | str) -> None:
    assert _outcome(decide_payment, *case) == expected


@pytest.mark.parametrize(("case", "expected"), SHIPMENT.items(), ids=str)
def test_shipment_settle(case: tuple[ShipmentStatus, ShipmentStatus, bool], expected: Verdict | str) -> None:
    assert _outcome(decide_shipment, *case) == expected


def test_every_status_is_decided_for_every_target() -> None:
    """No status is left out: Pending applies, and only a repeat of the target itself is ever a no-op."""
    for status in PaymentStatus:
        for target in (P.SUCCEEDED, P.FAILED):
            for repeat_ok in (False, True):
                expected = A if status is P.PENDING else N if repeat_ok and status is target else "payment_not_pending"
                assert _outcome(decide_payment, status, target, repeat_ok) == expected
    for shipment in ShipmentStatus:
        assert _outcome(decide_shipment, shipment, S.SHIPPED, True) == (
            A if shipment is S.PENDING else N if shipment is S.SHIPPED else "shipment_cannot_be_shipped"
        )
        assert _outcome(decide_shipment, shipment, S.CANCELLED, False) == (
            A if shipment is S.PENDING else "shipment_cannot_be_cancelled"
        )


def test_a_refusal_names_the_row_and_its_status() -> None:
    payment_id = uuid4()
    with pytest.raises(DomainError, match=f"{payment_id}.*Refunded"):
        decide_payment(payment_id, P.REFUNDED, P.SUCCEEDED, repeat_ok=True)
    shipment_id = uuid4()
    with pytest.raises(DomainError, match=f"{shipment_id}.*Cancelled"):
        decide_shipment(shipment_id, S.CANCELLED, S.SHIPPED, repeat_ok=True)
