"""Settling a payment or a shipment through its order's workflow, written once for both."""

from abc import ABC, abstractmethod
from typing import Generic, TypeVar
from uuid import UUID

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from api.order_workflows import M, OrderUpdate, OrderWorkflows
from services.errors import DomainError
from usecases.idempotency import KeyedRequest, action_done, claim_action, update_id_of

Row = TypeVar("Row")


class Settlement(ABC, Generic[Row, M]):
    """A Pending row (a payment, a shipment) that only its order's workflow settles, with `update`."""

    @property
    @abstractmethod
    def update(self) -> OrderUpdate[M]:
        """The workflow update that settles the row along with the order."""

    @abstractmethod
    async def read(self, session: AsyncSession) -> Row:
        """The row; its not-found error if there is none."""

    @abstractmethod
    def order_id(self, row: Row) -> UUID: ...

    @abstractmethod
    def pending(self, row: Row) -> bool: ...

    @abstractmethod
    def settled(self, row: Row) -> bool: ...

    @abstractmethod
    def not_pending(self, row: Row) -> DomainError:
        """The refusal of settling a row that is no longer Pending (the seed is strict)."""

    @abstractmethod
    async def act(self, orders: OrderWorkflows, row: Row, update_id: str | None) -> Row:
        """Ask the order's workflow to settle the Pending row; the row once settled, or the refusal."""


async def settle(
    orders: OrderWorkflows, settlement: Settlement[Row, M], keyed: KeyedRequest | None, body: BaseModel | None
) -> Row:
    """Claim the key, read the row, act through the order's workflow, answer with the settled row.

    Strict, as the seed's: a row that is not Pending is refused, except for a retry with the same key whose
    first attempt settled it (the key was marked done, or Temporal knows its update): it gets that attempt's
    outcome. The mark is what survives the run continuing as new, which forgets the update ids it saw.
    """
    async with claim_action(orders.sessionmaker, keyed, body) as key:
        row = await orders.read(settlement.read)
        if not settlement.pending(row):
            if key is not None and key.retry and settlement.settled(row):
                order_id = settlement.order_id(row)
                if key.done or await orders.outcome_of(order_id, settlement.update, key.update_id) is not None:
                    return row  # this key's first attempt settled it
            raise settlement.not_pending(row)
        settled = await settlement.act(orders, row, update_id_of(key))
    await action_done(orders.sessionmaker, keyed)
    return settled
