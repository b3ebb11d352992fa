"""HTTP metrics of the API in Prometheus format, served on `GET /metrics`.

Requests are counted and timed by route template (`/api/orders/{order_id}`), never by raw path, so the series
stay few. Each app has its own registry, so several apps in one process (tests) do not collide.
"""

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

from api.auth import OPERATOR


class HttpMetrics:
    """One count and one latency observation per request (`api.edge` reports each request here)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "orderflow_http_requests_total", "HTTP requests", ["method", "route", "status"], registry=registry
        )
        self.latency = Histogram(
            "orderflow_http_request_duration_seconds", "HTTP request latency", ["method", "route"], registry=registry
        )
        # The labelled series, once looked up (prometheus_client's `labels()` validates and locks on every call).
        self._counts: dict[tuple[str, str, int], Counter] = {}
        self._latencies: dict[tuple[str, str], Histogram] = {}

    def observe(self, method: str, route: object, status: int, seconds: float) -> None:
        """A request answered `status`; `route` is what it matched (its path template), None if nothing."""
        template = str(getattr(route, "path", "unmatched"))
        count = self._counts.get((method, template, status))
        if count is None:
            count = self._counts[method, template, status] = self.requests.labels(method, template, str(status))
        latency = self._latencies.get((method, template))
        if latency is None:
            latency = self._latencies[method, template] = self.latency.labels(method, template)
        count.inc()
        latency.observe(seconds)


def install(app: FastAPI) -> HttpMetrics:
    """`GET /metrics` (operators only), and the recorder of what it serves."""
    registry = CollectorRegistry()

    @app.get("/metrics", include_in_schema=False, dependencies=[OPERATOR])
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return HttpMetrics(registry)
