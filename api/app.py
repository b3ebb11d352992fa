"""`create_app()`: the API's composition root. Nothing connects at import time.

Run with `uvicorn api.app:create_app --factory`.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException
from fastapi.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import auth, errors, metrics, web
from api.order_workflows import OrderWorkflows
from api.request_id import RequestIds
from api.routes import carts, catalog, codec, health, inventory, orders, payments, shipments
from services.demo import load_demo_data
from stack import temporal
from stack.db import create_engine, create_sessionmaker
from stack.observability import configure_logging, tracing_interceptors
from stack.settings import Settings


class _HttpMiddleware:
    """A pure ASGI middleware that acts on HTTP requests (`http`); anything else passes through untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.http(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


class StripTrailingSlash(_HttpMiddleware):
    """Routes answer with or without a trailing slash, without a redirect (contract section 1.9)."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        if len(path) > 1 and path.endswith("/"):
            scope = dict(scope, path=path.rstrip("/") or "/")
        await self.app(scope, receive, send)


class JsonCharset(_HttpMiddleware):
    """JSON responses say `Content-Type: application/json; charset=utf-8`, as contract section 1.3 does."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_charset(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    (name, _JSON_UTF8 if name == b"content-type" and value == b"application/json" else value)
                    for name, value in message.get("headers", [])
                ]
            await send(message)

        await self.app(scope, receive, send_with_charset)


_JSON_UTF8 = b"application/json; charset=utf-8"


class BoundedBody(_HttpMiddleware):
    """Request bodies over `max_bytes` are answered 413 `request_too_large` before anything parses them.

    A declared Content-Length over the limit is refused before the body is read; a body without one (chunked)
    is counted as it streams in, and refused at the chunk that crosses the limit.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        super().__init__(app)
        self.max_bytes = max_bytes

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = f"The request body exceeds the limit of {self.max_bytes} bytes"
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            response = errors.error_response(413, errors.REQUEST_TOO_LARGE, message)
            await response(scope, receive, send)
            return
        received = 0

        async def bounded_receive() -> Message:
            nonlocal received
            event = await receive()
            if event["type"] == "http.request":
                received += len(event.get("body", b""))
                if received > self.max_bytes:
                    # Raised inside the request: FastAPI passes it on and errors.py answers it with the body.
                    raise HTTPException(413, message)
            return event

        await self.app(scope, bounded_receive, send)


class RequestSpans(_HttpMiddleware):
    """One server span per HTTP request; workflows started or updated inside it continue the same trace."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        from opentelemetry import trace

        tracer = trace.get_tracer("orderflow.api")
        with tracer.start_as_current_span(f"{scope['method']} {scope['path']}", kind=trace.SpanKind.SERVER):
            await self.app(scope, receive, send)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.require_database_url())
        app.state.sessionmaker = create_sessionmaker(engine)
        # lazy: the API starts (and /ready reports it) even while Temporal is still coming up.
        configure_logging(settings)
        app.state.temporal = await temporal.connect(
            settings, lazy=True, interceptors=tracing_interceptors(settings, "orderflow-api")
        )
        app.state.orders = OrderWorkflows(app.state.temporal, settings, app.state.sessionmaker)
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
    errors.install(app)
    auth.install(app)
    for module in (health, catalog, inventory, carts, orders, payments, shipments):
        app.include_router(module.router)
    web.install(app)
    # Innermost: its 413 still gets the CORS headers and is counted in the metrics.
    app.add_middleware(BoundedBody, max_bytes=settings.max_request_bytes)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["*"],
        allow_headers=["*"],
        allow_credentials=False,
        expose_headers=["Link"],  # a browser client reads the next page of a list from it
    )
    metrics.install(app)
    codec.install(app, settings)
    if settings.otel_exporter_otlp_endpoint:
        app.add_middleware(RequestSpans)
    app.add_middleware(JsonCharset)
    app.add_middleware(StripTrailingSlash)
    app.add_middleware(
        RequestIds, on_error=errors.unhandled
    )  # outermost: every response, errors of the middlewares included, carries it
    return app
