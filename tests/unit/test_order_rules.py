"""The order's transition table (contracts.order.decide): every action in every status, as the seed's state
machine (contract 5.5) says, plus this project's one change (a Paid order can be cancelled)."""

import pytest

from contracts.order import (
    REFUSAL_CODES,
    CancelOrder,
    ExpireOrder,
    MarkPaid,
    MarkShipped,
    OrderAction,
    OrderStatus,
    Verdict,
    action_of,
    decide,
    refusal_message,
    transition_table,
)

A, N, R = Verdict.APPLY, Verdict.NOOP, Verdict.REFUSE
PAY, SHIP, CANCEL, EXPIRE = OrderAction.PAY, OrderAction.SHIP, OrderAction.CANCEL, OrderAction.EXPIRE
S = OrderStatus

EXPECTED = {
    (S.DRAFT, PAY): R, (S.DRAFT, SHIP): R, (S.DRAFT, CANCEL): R, (S.DRAFT, EXPIRE): R,
    (S.PENDING_PAYMENT, PAY): A, (S.PENDING_PAYMENT, SHIP): R, (S.PENDING_PAYMENT, CANCEL): A,
    (S.PENDING_PAYMENT, EXPIRE): A,
    (S.PAID, PAY): N, (S.PAID, SHIP): A, (S.PAID, CANCEL): A, (S.PAID, EXPIRE): R,
    (S.SHIPPED, PAY): N, (S.SHIPPED, SHIP): N, (S.SHIPPED, CANCEL): R, (S.SHIPPED, EXPIRE): R,
    (S.CANCELLED, PAY): R, (S.CANCELLED, SHIP): R, (S.CANCELLED, CANCEL): R, (S.CANCELLED, EXPIRE): R,
    (S.EXPIRED, PAY): R, (S.EXPIRED, SHIP): R, (S.EXPIRED, CANCEL): R, (S.EXPIRED, EXPIRE): N,
}  # fmt: skip


def test_the_expectation_covers_every_action_in_every_status() -> None:
    assert set(EXPECTED) == {(status, action) for status in OrderStatus for action in OrderAction}


@pytest.mark.parametrize(("status", "action"), list(EXPECTED), ids=lambda value: str(value))
def test_decide(status: OrderStatus, action: OrderAction) -> None:
    assert decide(action, status) is EXPECTED[status, action]


def test_every_refusal_has_a_code_and_a_message() -> None:
    for status, action in EXPECTED:
        assert REFUSAL_CODES[action].startswith("order_cannot_be_")
        assert refusal_message(action, status).startswith(f"An order in status {status.value} cannot be ")


def test_a_table_without_a_status_is_refused() -> None:
    columns = (PAY, SHIP, CANCEL, EXPIRE)
    rows: dict[OrderStatus, tuple[Verdict, ...]] = {status: (R, R, R, R) for status in OrderStatus}
    del rows[S.EXPIRED]
    with pytest.raises(ValueError, match="one row per status"):
        transition_table(columns, rows)


def test_a_table_without_an_action_is_refused() -> None:
    with pytest.raises(ValueError, match="one column per action"):
        transition_table((PAY, SHIP, CANCEL), {status: (R, R, R) for status in OrderStatus})


def test_a_row_without_a_verdict_per_action_is_refused() -> None:
    rows = {status: (R, R, R, R) for status in OrderStatus} | {S.PAID: (N, A, A)}
    with pytest.raises(ValueError, match="one verdict per action"):
        transition_table((PAY, SHIP, CANCEL, EXPIRE), rows)


def test_each_message_asks_for_its_action() -> None:
    assert [action_of(m) for m in (MarkPaid(), MarkShipped(), CancelOrder(), ExpireOrder())] == [
        PAY,
        SHIP,
        CANCEL,
        EXPIRE,
    ]
