"""Dependency aliases. Each request gets one unit of work, committed before the response is sent.

The providers are `async def` although they do not await: FastAPI runs a plain `def` dependency in a thread
pool, a thread hop per dependency per request.
"""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from api.auth import operator_call
from api.order_workflows import OrderWorkflows
from api.paging import PageParams, get_page
from services.payment.provider import PaymentProvider
from services.validation import NO_CAPS, Caps
from stack.db import reading
from stack.settings import Settings


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_sessionmaker(request: Request) -> async_sessionmaker[AsyncSession]:
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    return sessionmaker


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with sessionmaker.begin() as session:
        yield session


async def get_read_session(request: Request) -> AsyncIterator[AsyncSession]:
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with reading(sessionmaker) as session:
        yield session


async def get_temporal(request: Request) -> Client:
    client: Client = request.app.state.temporal
    return client


async def get_payment_provider(request: Request) -> PaymentProvider | None:
    provider: PaymentProvider | None = request.app.state.payment_provider
    return provider


async def get_caps(request: Request) -> Caps:
    """The caller's anti-hoarding caps: the settings' for a customer, none for an operator (or in open mode)."""
    settings: Settings = request.app.state.settings
    if operator_call(settings, request.scope):
        return NO_CAPS
    return Caps(units_per_line=settings.max_units_per_line, open_orders_per_email=settings.max_open_orders_per_email)


async def get_order_workflows(request: Request) -> OrderWorkflows:
    orders: OrderWorkflows = request.app.state.orders
    return orders


AppSettings = Annotated[Settings, Depends(get_settings)]
SessionMaker = Annotated[async_sessionmaker[AsyncSession], Depends(get_sessionmaker)]
# scope="function": the transaction commits (or rolls back) before the response leaves, so the client's
# next request always sees what this one wrote.
Session = Annotated[AsyncSession, Depends(get_session, scope="function")]
# For routes that only read: no BEGIN/COMMIT around the reads (PostgreSQL's READ COMMITTED gives each statement
# its own snapshot either way). A route that waits on a workflow opens no session here: it would hold a pooled
# connection for the whole wait (OrderWorkflows reads and writes around the wait itself).
ReadSession = Annotated[AsyncSession, Depends(get_read_session, scope="function")]
Temporal = Annotated[Client, Depends(get_temporal)]
Orders = Annotated[OrderWorkflows, Depends(get_order_workflows)]
CallerCaps = Annotated[Caps, Depends(get_caps)]
# the card processor (Stripe's API); None when none is configured (manual payments only)
Payments = Annotated[PaymentProvider | None, Depends(get_payment_provider)]
# `?limit=&cursor=` of a list endpoint; `page.request` goes to the store, `page.answer(result)` is the body.
Page = Annotated[PageParams, Depends(get_page)]
