"""The order workflow's activities, as typed interfaces: one class per context, one method per activity.

The workflow calls them through these methods (`workflow.execute_activity_method(InventorySteps.allocate, ...)`),
so mypy checks every argument and result and the workflow never imports the implementations (activities/,
which need SQLAlchemy). An implementation subclasses a contract and overrides its methods; the override is
registered under the contract's activity name, so a name is written here and nowhere else.
`ACTIVITY_CONTRACTS` is the one list of activities: the worker, the test stand-ins and the replay all derive from it.
"""

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar
from uuid import UUID

from temporalio import activity

from contracts.order import (
    AllocateStock,
    CapturePayment,
    IntentHint,
    LoadSnapshots,
    OrderDetails,
    OrderRef,
    PaymentSecured,
    ReconcileIntents,
    RecordStatus,
    ReleaseByKeys,
    Reservations,
    SecurePayment,
    ShipShipment,
    SucceedPayment,
    VariantSnapshot,
)

_DEFINITION = "__temporal_activity_definition"  # where temporalio's @activity.defn keeps a function's definition


def activity_name(method: Callable[..., Any]) -> str:
    """The registered name of an activity method (a contract's, or an implementation's)."""
    definition = getattr(method, _DEFINITION, None)
    name = getattr(definition, "name", None)
    if not isinstance(name, str):
        raise TypeError(f"{method!r} is not an activity")
    return name


class ActivityContract(ABC):  # noqa: B024 - its subclasses declare the abstract methods
    """Base of the activity interfaces. A subclass that overrides a contract method gets its activity name."""

    activity_names: ClassVar[dict[str, str]] = {}  # method name -> activity name, of this contract

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        names = {
            method: name
            for base in reversed(cls.__mro__)
            for method, name in vars(base).get("activity_names", {}).items()
        }
        for method, value in vars(cls).items():
            if method in names and callable(value):
                if hasattr(value, _DEFINITION):
                    raise TypeError(f"{cls.__name__}.{method} implements activity {names[method]}: no @activity.defn")
                activity.defn(name=names[method])(value)  # an implementation of a declared activity
            elif hasattr(value, _DEFINITION):
                names[method] = activity_name(value)  # a contract declaring its activities
        cls.activity_names = names


def bound_activities(implementation: ActivityContract) -> list[Callable[..., Any]]:
    """Every activity `implementation` implements, bound to it, ready to register on a worker."""
    return [getattr(implementation, method) for method in type(implementation).activity_names]


class CatalogSteps(ActivityContract):
    @activity.defn(name="catalog.load_snapshots")
    @abstractmethod
    async def load_snapshots(self, request: LoadSnapshots) -> list[VariantSnapshot]:
        """One snapshot per requested variant, in request order; refused on the first unknown or inactive one."""


class InventorySteps(ActivityContract):
    @activity.defn(name="inventory.allocate")
    @abstractmethod
    async def allocate(self, request: AllocateStock) -> list[UUID]:
        """Reserve every line, all or nothing; idempotent by each line's key. The reservation ids, in line order."""

    @activity.defn(name="inventory.release_by_keys")
    @abstractmethod
    async def release_by_keys(self, request: ReleaseByKeys) -> None:
        """Release the active reservations made with these keys; keys without one (or released) are skipped."""

    @activity.defn(name="inventory.commit")
    @abstractmethod
    async def commit(self, request: Reservations) -> None:
        """Consume reserved stock (on-hand decreases); already committed ones are left as they are."""


class OrderingSteps(ActivityContract):
    @activity.defn(name="ordering.record_order")
    @abstractmethod
    async def record_order(self, order: OrderDetails) -> None:
        """Persist the placed order; idempotent by order id."""

    @activity.defn(name="ordering.record_status")
    @abstractmethod
    async def record_status(self, request: RecordStatus) -> None:
        """Persist a status change; recording the same status again is a no-op."""

    @activity.defn(name="ordering.void")
    @abstractmethod
    async def void(self, request: OrderRef) -> None:
        """Compensation of record_order: cancel the order if it was recorded."""


class PaymentSteps(ActivityContract):
    @activity.defn(name="payment.mark_succeeded")
    @abstractmethod
    async def mark_succeeded(self, request: SucceedPayment) -> None:
        """Pending -> Succeeded; a payment that already succeeded is left as it is."""

    @activity.defn(name="payment.cancel_pending")
    @abstractmethod
    async def cancel_pending(self, request: OrderRef) -> int:
        """Cancel the order's pending payments (their PaymentIntents voided at the provider); how many changed."""

    @activity.defn(name="payment.refund")
    @abstractmethod
    async def refund(self, request: OrderRef) -> int:
        """Refund the order's succeeded payments (at the provider: refund what was captured, void what was only
        authorized); how many changed."""

    @activity.defn(name="payment.secure")
    @abstractmethod
    async def secure(self, request: SecurePayment) -> PaymentSecured:
        """Re-read the payment's intent: Succeeded if it pays the order; voided (Cancelled) if it is authorized
        otherwise; left Pending while nothing is authorized. A payment that succeeded already is secured."""

    @activity.defn(name="payment.capture")
    @abstractmethod
    async def capture(self, request: CapturePayment) -> int:
        """Capture the order's authorized provider payment; captured already is success. How many were captured."""

    @activity.defn(name="payment.reconcile")
    @abstractmethod
    async def reconcile(self, request: ReconcileIntents) -> list[IntentHint]:
        """Re-read open PaymentIntents: the authorized ones of open orders, to tell their workflows (those of
        closed orders are voided)."""


class FulfillmentSteps(ActivityContract):
    @activity.defn(name="fulfillment.mark_shipped")
    @abstractmethod
    async def mark_shipped(self, request: ShipShipment) -> None:
        """Pending -> Shipped; a shipment that already shipped is left as it is."""

    @activity.defn(name="fulfillment.cancel_pending")
    @abstractmethod
    async def cancel_pending(self, request: OrderRef) -> int:
        """Cancel the order's pending shipments; how many changed."""


ACTIVITY_CONTRACTS: tuple[type[ActivityContract], ...] = (
    CatalogSteps,
    InventorySteps,
    OrderingSteps,
    PaymentSteps,
    FulfillmentSteps,
)
