"""HTTP metrics of the API in Prometheus format, served on `GET /metrics`.

Requests are counted and timed by route template (`/api/orders/{order_id}`), never by raw path, so the series
stay few. Each app has its own registry, so several apps in one process (tests) do not collide.
"""

import time

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import OPERATOR


class HttpMetrics:
    """Pure ASGI middleware: one count and one latency observation per request."""

    def __init__(self, app: ASGIApp, registry: CollectorRegistry) -> None:
        self.app = app
        self.requests = Counter(
            "orderflow_http_requests_total", "HTTP requests", ["method", "route", "status"], registry=registry
        )
        self.latency = Histogram(
            "orderflow_http_request_duration_seconds", "HTTP request latency", ["method", "route"], registry=registry
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            # FastAPI's router records the matched route in the (shared) scope.
            route = str(getattr(scope.get("route"), "path", "unmatched"))
            self.requests.labels(scope["method"], route, str(status)).inc()
            self.latency.labels(scope["method"], route).observe(time.perf_counter() - started)


def install(app: FastAPI) -> None:
    registry = CollectorRegistry()

    @app.get("/metrics", include_in_schema=False, dependencies=[OPERATOR])
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(HttpMetrics, registry=registry)
