"""`create_app()`: the API's composition root. Nothing connects at import time.

Run with `uvicorn api.app:create_app --factory`.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import auth, errors, metrics, throttle, web
from api.edge import Edge
from api.guessing import FailureThrottle
from api.order_workflows import OrderWorkflows
from api.routes import carts, catalog, codec, health, inventory, orders, payments, shipments, webhooks
from services.demo import load_demo_data
from services.payment.provider import PaymentProvider
from services.payment.providers import configured_provider
from stack import temporal
from stack.db import create_engine, create_sessionmaker
from stack.observability import configure_logging, tracing_interceptors
from stack.settings import Settings


def create_app(settings: Settings | None = None, *, payment_provider: PaymentProvider | None = None) -> FastAPI:
    """The API; `payment_provider` by default the one the settings describe (Stripe's API, or localstripe)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.require_database_url(), pool_size=settings.db_pool_size)
        app.state.sessionmaker = create_sessionmaker(engine)
        # lazy: the API starts (and /ready reports it) even while Temporal is still coming up.
        configure_logging(settings)
        app.state.temporal = await temporal.connect(
            settings, lazy=True, interceptors=tracing_interceptors(settings, "orderflow-api")
        )
        app.state.orders = OrderWorkflows(app.state.temporal, settings, app.state.sessionmaker)
        app.state.payment_provider = payment_provider or configured_provider(settings)
        try:
            if settings.seed_demo_data:
                await load_demo_data(app.state.sessionmaker)
            yield
        finally:
            await engine.dispose()

    app = FastAPI(
        title="Orderflow",
        summary="Durable order orchestration on Temporal and PostgreSQL.",
        version="0.1.0",
        lifespan=lifespan,
        redirect_slashes=False,
    )
    app.state.settings = settings
    app.state.auth_failures = FailureThrottle()
    errors.install(app)
    auth.install(app)
    for module in (health, catalog, inventory, carts, orders, payments, shipments, webhooks):
        app.include_router(module.router)
    web.install(app)
    recorder = metrics.install(app)
    codec.install(app)
    writes = throttle.TokenBuckets(settings.anon_writes_per_minute) if settings.anon_writes_per_minute else None
    if writes is not None:
        throttle.install(app)
    app.state.anonymous_writes = writes  # a test sets its clock
    app.add_middleware(Edge, settings=settings, metrics=recorder, on_error=errors.unhandled, writes=writes)
    return app
