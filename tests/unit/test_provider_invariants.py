"""The invariant check's reading of the provider (tooling/invariants.py), on given readings: what money the
provider moved for each order against its status, and our ledger against the provider's."""

import uuid

from services.payment.provider import IntentStatus, ProviderIntent
from tooling.invariants import InvariantReport, ProviderPayment, check_provider_readings

TOTAL = 6900


def _payment(
    order_status: str, intent_id: str = "pi_1", *, status: str = "Succeeded", captured: int = 0, refunded: int = 0
) -> ProviderPayment:
    return ProviderPayment(
        payment_id=uuid.UUID(int=1),
        order_id=uuid.UUID(int=2),
        status=status,
        provider_id=intent_id,
        authorized=TOTAL,
        captured=captured,
        refunded=refunded,
        order_status=order_status,
        total=TOTAL,
    )


def _intent(status: IntentStatus, *, capturable: int = 0, received: int = 0, refunded: int = 0) -> ProviderIntent:
    return ProviderIntent(
        id="pi_1",
        status=status,
        amount_minor=TOTAL,
        currency="USD",
        amount_capturable_minor=capturable,
        amount_received_minor=received,
        amount_refunded_minor=refunded,
        order_id=uuid.UUID(int=2),
    )


def _read(payment: ProviderPayment, intent: ProviderIntent) -> InvariantReport:
    report = InvariantReport()
    check_provider_readings([payment], {payment.provider_id: intent}, report)
    return report


def test_a_shipped_order_captured_once_and_recorded_is_ok() -> None:
    report = _read(_payment("Shipped", captured=TOTAL), _intent(IntentStatus.SUCCEEDED, received=TOTAL))
    assert report.ok, report.details()


def test_a_shipped_order_never_captured_lost_its_money() -> None:
    report = _read(_payment("Shipped"), _intent(IntentStatus.REQUIRES_CAPTURE, capturable=TOTAL))
    assert len(report.lost) == 1 and "less than the 6900" in report.lost[0]
    assert any("still authorized" in found for found in report.inconsistent)


def test_a_cancelled_order_whose_capture_was_not_refunded_kept_money() -> None:
    report = _read(_payment("Cancelled", captured=TOTAL), _intent(IntentStatus.SUCCEEDED, received=TOTAL))
    assert len(report.duplicates) == 1 and "more than the 0" in report.duplicates[0]


def test_a_paid_order_holds_an_authorization_and_nothing_captured() -> None:
    report = _read(_payment("Paid"), _intent(IntentStatus.REQUIRES_CAPTURE, capturable=TOTAL))
    assert report.ok, report.details()


def test_an_authorization_left_open_on_an_expired_order_is_reported() -> None:
    report = _read(_payment("Expired", status="Pending"), _intent(IntentStatus.REQUIRES_CAPTURE, capturable=TOTAL))
    assert [found for found in report.inconsistent if "still authorized" in found]


def test_a_ledger_that_differs_from_the_provider_is_reported() -> None:
    captured_unrecorded = _read(_payment("Shipped"), _intent(IntentStatus.SUCCEEDED, received=TOTAL))
    assert ["ledger captured" in found for found in captured_unrecorded.inconsistent] == [True]
    refund_unrecorded = _read(
        _payment("Cancelled", captured=TOTAL), _intent(IntentStatus.SUCCEEDED, received=TOTAL, refunded=TOTAL)
    )
    assert ["ledger captured" in found for found in refund_unrecorded.inconsistent] == [True]
    wrong_authorization = _read(_payment("Paid"), _intent(IntentStatus.REQUIRES_CAPTURE, capturable=TOTAL - 1))
    assert ["ledger authorized" in found for found in wrong_authorization.inconsistent] == [True]
