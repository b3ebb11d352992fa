"""The invariants every e2e drill and benchmark run must leave intact, read straight from PostgreSQL and from
Temporal's visibility (in tooling/, not under tests/, because `make bench` checks them too).

- stock, per SKU: on-hand = receipts + adjustments - commits in the ledger, reserved = the sum of Active
  reservations, 0 <= reserved <= on-hand (and per row, via `tooling/stock_invariants.py`);
- no reservation with two movements of one type;
- no payment marked Succeeded without its timestamps, no order with more succeeded payments than the test made;
- every order has its workflow `order-<id>`, every placed workflow (OrderStatus != Rejected) has its order, a
  finished order's run is closed and an open order's run is running;
- every order's reservations match its status: PendingPayment/Paid -> Active, Shipped -> Committed,
  Cancelled/Expired -> Released; no Active reservation of an order that does not exist;
- optionally, a drill's expectations: every order of its batch in its expected status, the refused ones absent,
  no extra order of the batch (a duplicate placement).

Also: money is kept (a Succeeded payment) only for an order that is Paid or Shipped, and never more than the
order's total (Σ succeeded − refunded ≤ total, per order).

With a payment provider given (the stack's localstripe), its PaymentIntents too, read by the payment rows'
provider ids — the provider is the truth about money: per order, captured − refunded = the total if Shipped and 0
otherwise (nothing is captured before shipping, and a cancelled or expired order gave everything back); no
intent left authorized (`requires_capture`) on a closed order; and our ledger (each payment's captured and
refunded amounts, and its authorized amount while the intent is authorized) equals the provider's.

Visibility is eventually consistent, so `check_invariants` re-reads until everything agrees or its deadline.
"""

import asyncio
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client, WorkflowExecutionStatus

from contracts.order import ACTIONS, TERMINAL_STATUSES, stock_by_status
from services.payment.provider import IntentStatus, PaymentProvider, ProviderIntent
from stack.db import create_engine, create_sessionmaker
from tooling.stock_invariants import assert_stock_invariants, repeated_movements
from workflows.order import REJECTED, workflow_id
from workflows.search_attributes import ORDER_STATUS

SETTLE_TIMEOUT = 30.0
SETTLE_INTERVAL = 0.5

RESERVATION_STATUS_FOR_ORDER = {status.value: stock.value for status, stock in stock_by_status(ACTIONS).items()}
TERMINAL = {status.value for status in TERMINAL_STATUSES}


@dataclass
class Expectations:
    """What one drill knows in advance about its batch."""

    statuses: dict[UUID, str] = field(default_factory=dict)  # order id -> its final status
    absent: set[UUID] = field(default_factory=set)  # ids of placements that had to be refused
    succeeded_payments: dict[UUID, int] = field(default_factory=dict)  # order id -> payments it made succeed
    email_domain: str | None = None  # every order of the batch has a customer email ending with it


@dataclass
class InvariantReport:
    skus: int = 0
    orders: int = 0
    workflows: int = 0
    reservations: int = 0
    payments: int = 0
    intents: int = 0  # PaymentIntents read from the provider
    duplicates: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    inconsistent: list[str] = field(default_factory=list)
    preexisting: int = 0  # violations left out because an earlier reading (the baseline) had them already

    def without(self, baseline: "InvariantReport | None") -> "InvariantReport":
        """This reading minus the violations the baseline already had (another test reported those)."""
        if baseline is None:
            return self
        before = len(self.duplicates) + len(self.lost) + len(self.inconsistent)
        self.duplicates = [v for v in self.duplicates if v not in baseline.duplicates]
        self.lost = [v for v in self.lost if v not in baseline.lost]
        self.inconsistent = [v for v in self.inconsistent if v not in baseline.inconsistent]
        self.preexisting = before - len(self.duplicates) - len(self.lost) - len(self.inconsistent)
        return self

    @property
    def ok(self) -> bool:
        return not (self.duplicates or self.lost or self.inconsistent)

    def summary(self) -> str:
        return (
            f"{self.skus} SKUs, {self.orders} orders, {self.workflows} workflows, {self.reservations} "
            f"reservations, {self.payments} payments, {self.intents} provider intents: "
            f"duplicates: {len(self.duplicates)}, lost: {len(self.lost)}, "
            f"inconsistent: {len(self.inconsistent)}"
            + (f" (left out, found before: {self.preexisting})" if self.preexisting else "")
        )

    def details(self, limit: int = 30) -> str:
        lines = [self.summary()]
        for name, found in (("duplicate", self.duplicates), ("lost", self.lost), ("inconsistent", self.inconsistent)):
            lines += [f"  {name}: {violation}" for violation in found[:limit]]
            if len(found) > limit:
                lines.append(f"  ... and {len(found) - limit} more {name}")
        return "\n".join(lines)


@dataclass(frozen=True)
class _Run:
    status: WorkflowExecutionStatus | None
    order_status: str | None


async def _check_stock(session: AsyncSession, report: InvariantReport) -> None:
    rows = (
        await session.execute(
            text(
                """
                WITH items AS (
                    SELECT sku, SUM(on_hand) AS on_hand, SUM(reserved) AS reserved
                    FROM inventory.stock_items GROUP BY sku),
                ledger AS (
                    SELECT sku,
                           COALESCE(SUM(quantity) FILTER (WHERE type = 'Receipt'), 0) AS receipts,
                           COALESCE(SUM(quantity) FILTER (WHERE type = 'Adjustment'), 0) AS adjustments,
                           COALESCE(-SUM(quantity) FILTER (WHERE type = 'Shipment'), 0) AS commits
                    FROM inventory.stock_movements GROUP BY sku),
                active AS (
                    SELECT sku, SUM(quantity) AS reserved
                    FROM inventory.stock_reservations WHERE status = 'Active' GROUP BY sku)
                SELECT i.sku, i.on_hand, i.reserved,
                       COALESCE(l.receipts, 0), COALESCE(l.adjustments, 0), COALESCE(l.commits, 0),
                       COALESCE(a.reserved, 0)
                FROM items i LEFT JOIN ledger l ON l.sku = i.sku LEFT JOIN active a ON a.sku = i.sku
                ORDER BY i.sku
                """
            )
        )
    ).all()
    report.skus = len(rows)
    for sku, on_hand, reserved, receipts, adjustments, commits, active in rows:
        if on_hand != receipts + adjustments - commits:
            report.inconsistent.append(
                f"{sku}: on-hand {on_hand} != receipts {receipts} + adjustments {adjustments} - commits {commits}"
            )
        if reserved != active:
            report.inconsistent.append(f"{sku}: reserved {reserved} != Active reservations {active}")
        if not 0 <= reserved <= on_hand:
            report.inconsistent.append(f"{sku}: reserved {reserved} outside 0..{on_hand}")

    repeated = await repeated_movements(session)
    report.duplicates += [f"reservation {rid}: {count} {kind} movements" for rid, kind, count in repeated]
    try:
        await assert_stock_invariants(session)
    except AssertionError as error:
        report.inconsistent.append(f"stock rows: {error}")


async def _check_payments(session: AsyncSession, report: InvariantReport, allowed: Mapping[UUID, int]) -> None:
    rows = (
        await session.execute(
            text("SELECT id, order_id, status, succeeded_at IS NOT NULL, refunded_at IS NOT NULL FROM payment.payments")
        )
    ).all()
    report.payments = len(rows)
    succeeded: Counter[UUID] = Counter()
    for payment_id, order_id, status, has_succeeded_at, has_refunded_at in rows:
        if status in ("Succeeded", "Refunded") and not has_succeeded_at:
            report.inconsistent.append(f"payment {payment_id} is {status} without succeededAt")
        if status == "Refunded" and not has_refunded_at:
            report.inconsistent.append(f"payment {payment_id} is Refunded without refundedAt")
        if has_succeeded_at:
            succeeded[order_id] += 1
    for order_id, count in succeeded.items():
        if count > allowed.get(order_id, 1):
            report.duplicates.append(
                f"order {order_id}: {count} succeeded payments (expected at most {allowed.get(order_id, 1)})"
            )
    # money taken never exceeds the order's total: per order, Σ succeeded − refunded (what Succeeded payments hold)
    over = (
        await session.execute(
            text(
                """
                SELECT p.order_id, SUM(p.amount_minor), o.total_amount_minor FROM payment.payments p
                JOIN ordering.orders o ON o.id = p.order_id
                WHERE p.status = 'Succeeded'
                GROUP BY p.order_id, o.total_amount_minor HAVING SUM(p.amount_minor) > o.total_amount_minor
                """
            )
        )
    ).all()
    report.inconsistent += [
        f"order {order_id}: payments hold {kept} minor units, more than its total of {total}"
        for order_id, kept, total in over
    ]
    # money is kept only for an order that is paid or shipped; a cancelled one's payments are refunded
    kept = (
        await session.execute(
            text(
                """
                SELECT p.id, p.order_id, o.status FROM payment.payments p
                LEFT JOIN ordering.orders o ON o.id = p.order_id
                WHERE p.status = 'Succeeded' AND (o.status IS NULL OR o.status NOT IN ('Paid', 'Shipped'))
                """
            )
        )
    ).all()
    report.inconsistent += [
        f"payment {payment_id} is Succeeded but its order {order_id} is {status or 'missing'}"
        for payment_id, order_id, status in kept
    ]


@dataclass(frozen=True)
class ProviderPayment:
    """A provider payment as we recorded it, with its order's status and total."""

    payment_id: UUID
    order_id: UUID
    status: str  # the payment's
    provider_id: str
    authorized: int
    captured: int
    refunded: int
    order_status: str | None
    total: int | None


async def _provider_payments(session: AsyncSession) -> list[ProviderPayment]:
    rows = (
        await session.execute(
            text(
                """
                SELECT p.id, p.order_id, p.status, p.provider_id, p.authorized_minor, p.captured_minor,
                       p.refunded_minor, o.status, o.total_amount_minor
                FROM payment.payments p LEFT JOIN ordering.orders o ON o.id = p.order_id
                WHERE p.provider_id IS NOT NULL ORDER BY p.order_id, p.created_at
                """
            )
        )
    ).all()
    return [ProviderPayment(*row) for row in rows]


def check_provider_readings(
    payments: list[ProviderPayment], intents: Mapping[str, ProviderIntent], report: InvariantReport
) -> None:
    """What the provider's intents say is off about our payments and orders (pure: both readings are given).

    Money taken beyond what an order owes is a duplicate, money an order owes and never taken is lost, and any
    other disagreement (an authorization left open, a ledger that differs from the provider) is inconsistent."""
    net: Counter[UUID] = Counter()
    orders: dict[UUID, tuple[str | None, int | None]] = {}
    for payment in payments:
        intent = intents[payment.provider_id]
        orders[payment.order_id] = (payment.order_status, payment.total)
        net[payment.order_id] += intent.amount_received_minor - intent.amount_refunded_minor
        closed = payment.order_status is None or payment.order_status in TERMINAL
        if closed and intent.status is IntentStatus.REQUIRES_CAPTURE:
            report.inconsistent.append(
                f"intent {intent.id} of order {payment.order_id} ({payment.order_status or 'missing'}) is still "
                f"authorized for {intent.amount_capturable_minor}"
            )
        ours = (payment.captured, payment.refunded)
        theirs = (intent.amount_received_minor, intent.amount_refunded_minor)
        if ours != theirs:
            report.inconsistent.append(
                f"payment {payment.payment_id} ({intent.id}): ledger captured, refunded {ours}, provider {theirs}"
            )
        authorized = payment.status == "Succeeded" and intent.status is IntentStatus.REQUIRES_CAPTURE
        if authorized and payment.authorized != intent.amount_capturable_minor:
            report.inconsistent.append(
                f"payment {payment.payment_id} ({intent.id}): ledger authorized {payment.authorized}, provider "
                f"{intent.amount_capturable_minor}"
            )
    for order_id, (status, total) in orders.items():
        owed = total if status == "Shipped" and total is not None else 0
        found = f"order {order_id} ({status or 'missing'}): captured - refunded at the provider {net[order_id]}"
        if net[order_id] > owed:
            report.duplicates.append(f"{found}, more than the {owed} it owes")
        elif net[order_id] < owed:
            report.lost.append(f"{found}, less than the {owed} it owes")


async def _check_provider(payments: list[ProviderPayment], provider: PaymentProvider, report: InvariantReport) -> None:
    intents = {payment.provider_id: await provider.retrieve(payment.provider_id) for payment in payments}
    report.intents = len(intents)
    check_provider_readings(payments, intents, report)


async def _orders(session: AsyncSession) -> dict[UUID, tuple[str, str]]:
    rows = (await session.execute(text("SELECT id, status, customer_email FROM ordering.orders"))).all()
    return {order_id: (status, email) for order_id, status, email in rows}


async def _check_reservations(session: AsyncSession, report: InvariantReport) -> None:
    rows = (
        await session.execute(
            text(
                """
                SELECT o.id, o.status, i.id, i.inventory_reservation_id, r.status, r.quantity, i.quantity
                FROM ordering.orders o
                LEFT JOIN ordering.order_items i ON i.order_id = o.id
                LEFT JOIN inventory.stock_reservations r ON r.id = i.inventory_reservation_id
                """
            )
        )
    ).all()
    for order_id, status, item_id, reservation_id, held_status, reserved, quantity in rows:
        if item_id is None:
            report.lost.append(f"order {order_id} ({status}) has no items")
        elif reservation_id is None or held_status is None:
            report.lost.append(f"order {order_id} item {item_id}: reservation {reservation_id} not found")
        elif held_status != RESERVATION_STATUS_FOR_ORDER.get(status):
            report.inconsistent.append(
                f"order {order_id} is {status} but its reservation {reservation_id} is {held_status}"
            )
        elif reserved != quantity:
            report.inconsistent.append(
                f"order {order_id} item {item_id}: quantity {quantity}, reservation {reservation_id} of {reserved}"
            )

    counts = (await session.execute(text("SELECT COUNT(*) FROM inventory.stock_reservations"))).scalar_one()
    report.reservations = counts
    leaked = (
        await session.execute(
            text(
                """
                SELECT r.id, r.reference, r.status FROM inventory.stock_reservations r
                WHERE r.status <> 'Released' AND r.reference LIKE 'ORDER-%'
                  AND NOT EXISTS (SELECT 1 FROM ordering.order_items i WHERE i.inventory_reservation_id = r.id)
                """
            )
        )
    ).all()
    report.lost += [
        f"reservation {rid} ({reference}) is {status} but no order holds it" for rid, reference, status in leaked
    ]


async def _runs(client: Client, task_queue: str) -> dict[str, _Run]:
    runs: dict[str, _Run] = {}
    async for execution in client.list_workflows(f"TaskQueue = '{task_queue}' AND WorkflowType = 'OrderWorkflow'"):
        runs[execution.id] = _Run(execution.status, execution.typed_search_attributes.get(ORDER_STATUS))
    return runs


def _check_workflows(orders: Mapping[UUID, tuple[str, str]], runs: Mapping[str, _Run], report: InvariantReport) -> None:
    report.workflows = len(runs)
    order_ids = {workflow_id(order_id): order_id for order_id in orders}
    for run_id, run in runs.items():
        if run.order_status == REJECTED:
            if run_id in order_ids:
                report.inconsistent.append(f"workflow {run_id} was rejected but its order exists")
        elif run_id not in order_ids:
            report.lost.append(f"workflow {run_id} ({run.order_status}, {run.status}) has no order")
    for run_id, order_id in order_ids.items():
        status = orders[order_id][0]
        found = runs.get(run_id)
        if found is None:
            report.lost.append(f"order {order_id} ({status}) has no workflow {run_id}")
            continue
        running = found.status is WorkflowExecutionStatus.RUNNING
        if status in TERMINAL and running:
            report.inconsistent.append(f"order {order_id} is {status} but {run_id} is still running")
        if status not in TERMINAL and not running:
            report.lost.append(f"order {order_id} is {status} but {run_id} is {found.status}: it can never move on")
        if found.order_status != status:
            report.inconsistent.append(f"{run_id}: search attribute OrderStatus {found.order_status}, order {status}")


def _check_expectations(
    orders: Mapping[UUID, tuple[str, str]], expected: Expectations, report: InvariantReport
) -> None:
    for order_id, status in expected.statuses.items():
        found = orders.get(order_id)
        if found is None:
            report.lost.append(f"order {order_id} (expected {status}) is missing")
        elif found[0] != status:
            report.lost.append(f"order {order_id} is {found[0]}, expected {status}")
    for order_id in expected.absent:
        if order_id in orders:
            report.inconsistent.append(f"order {order_id} exists although its placement had to be refused")
    if expected.email_domain:
        per_email = Counter(email for order_id, (_, email) in orders.items() if email.endswith(expected.email_domain))
        report.duplicates += [f"{count} orders for {email}" for email, count in per_email.items() if count > 1]
        report.duplicates += [
            f"order {order_id} ({email}) was not placed by the batch"
            for order_id, (_, email) in orders.items()
            if email.endswith(expected.email_domain) and order_id not in expected.statuses
        ]


async def check_once(
    database_url: str,
    client: Client,
    task_queue: str,
    expected: Expectations,
    *,
    provider: PaymentProvider | None = None,
) -> InvariantReport:
    """One reading of every invariant; the provider's intents too when `provider` is given."""
    report = InvariantReport()
    engine = create_engine(database_url, pool_size=1)
    try:
        async with create_sessionmaker(engine).begin() as session:
            # one snapshot of every table, so a concurrent change cannot look like a violation
            await session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
            await _check_stock(session, report)
            await _check_payments(session, report, expected.succeeded_payments)
            await _check_reservations(session, report)
            orders = await _orders(session)
            provider_payments = await _provider_payments(session)
    finally:
        await engine.dispose()
    report.orders = len(orders)
    if provider is not None:  # read after the snapshot: the provider moves first, so a lag shows as off until settled
        await _check_provider(provider_payments, provider, report)
    _check_workflows(orders, await _runs(client, task_queue), report)
    _check_expectations(orders, expected, report)
    return report


async def check_invariants(
    database_url: str,
    client: Client,
    task_queue: str,
    expected: Expectations | None = None,
    *,
    baseline: InvariantReport | None = None,
    settle_timeout: float = SETTLE_TIMEOUT,
    provider: PaymentProvider | None = None,
) -> InvariantReport:
    """Read every invariant until all hold or `settle_timeout` passes; returns the last reading.

    Violations already in `baseline` (a reading taken before the test) are left out, so that a bug one test
    exposed fails that test only.
    """
    deadline = time.monotonic() + settle_timeout
    while True:
        reading = await check_once(database_url, client, task_queue, expected or Expectations(), provider=provider)
        report = reading.without(baseline)
        if report.ok or time.monotonic() > deadline:
            return report
        await asyncio.sleep(SETTLE_INTERVAL)


async def stock_totals(database_url: str) -> dict[str, tuple[int, int]]:
    """(on-hand, reserved) of every SKU."""
    engine = create_engine(database_url, pool_size=1)
    try:
        async with create_sessionmaker(engine)() as session:
            rows = (
                await session.execute(
                    text("SELECT sku, SUM(on_hand), SUM(reserved) FROM inventory.stock_items GROUP BY sku")
                )
            ).all()
    finally:
        await engine.dispose()
    return {sku: (int(on_hand), int(reserved)) for sku, on_hand, reserved in rows}


async def reservation_status(database_url: str, reservation_id: UUID | str) -> str | None:
    """The status of one reservation as stored (the API has no read endpoint for reservations)."""
    engine = create_engine(database_url, pool_size=1)
    try:
        async with create_sessionmaker(engine)() as session:
            status: str | None = (
                await session.execute(
                    text("SELECT status FROM inventory.stock_reservations WHERE id = :id"), {"id": str(reservation_id)}
                )
            ).scalar_one_or_none()
    finally:
        await engine.dispose()
    return status
