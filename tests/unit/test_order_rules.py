"""The order's transition table (contracts.order.decide): every action in every status, as the seed's state
machine (contract 5.5) says, plus this project's one change (a Paid order can be cancelled)."""

from dataclasses import replace

import pytest

from contracts.order import (
    ACTIONS,
    REFUSAL_CODES,
    SPECS,
    CancelOrder,
    ExpireOrder,
    MarkPaid,
    MarkShipped,
    OrderAction,
    OrderStatus,
    StockState,
    Verdict,
    action_of,
    decide,
    refusal_message,
    specs_by_action,
    stock_by_status,
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


def test_a_spec_per_action_is_required() -> None:
    with pytest.raises(ValueError, match="one spec per action"):
        specs_by_action(ACTIONS[:-1])
    with pytest.raises(ValueError, match="one spec per action"):
        specs_by_action((*ACTIONS, ACTIONS[0]))


def test_an_action_that_applies_and_is_a_no_op_in_one_status_is_refused() -> None:
    pay = replace(SPECS[PAY], noop_in=frozenset({S.PENDING_PAYMENT}))
    with pytest.raises(ValueError, match="both applies and is a no-op"):
        specs_by_action([pay if spec.action is PAY else spec for spec in ACTIONS])


def test_two_actions_with_one_message_class_are_refused() -> None:
    expire = replace(SPECS[EXPIRE], sent=CancelOrder())
    with pytest.raises(ValueError, match="its own message class"):
        specs_by_action([expire if spec.action is EXPIRE else spec for spec in ACTIONS])


def test_the_table_is_the_specs_columns() -> None:
    assert transition_table(ACTIONS) == {(status, action): verdict for (status, action), verdict in EXPECTED.items()}


def test_the_stock_of_each_reachable_status() -> None:
    """What the invariant checks expect of an order's reservations, derived from the actions."""
    assert stock_by_status(ACTIONS) == {
        S.PENDING_PAYMENT: StockState.ACTIVE,
        S.PAID: StockState.ACTIVE,
        S.SHIPPED: StockState.COMMITTED,
        S.CANCELLED: StockState.RELEASED,
        S.EXPIRED: StockState.RELEASED,
    }


def test_a_status_reached_with_two_stock_states_is_refused() -> None:
    shelve = replace(SPECS[SHIP], action=EXPIRE, sent=ExpireOrder(), to=S.CANCELLED)  # Paid -> Cancelled, committed
    with pytest.raises(ValueError, match="is reached with"):
        stock_by_status([*ACTIONS, shelve])


def test_each_message_asks_for_its_action() -> None:
    assert [action_of(m) for m in (MarkPaid(), MarkShipped(), CancelOrder(), ExpireOrder())] == [
        PAY,
        SHIP,
        CANCEL,
        EXPIRE,
    ]


def test_each_spec_names_the_workflow_update_that_takes_its_message() -> None:
    from temporalio.workflow import _Definition

    from workflows.order import OrderWorkflow

    updates = _Definition.must_from_class(OrderWorkflow).updates
    for spec in ACTIONS:
        assert updates[spec.update].arg_types == [type(spec.sent)], spec.action
