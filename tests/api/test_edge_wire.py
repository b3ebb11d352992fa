"""The API's edge: request ids, trailing slashes, the JSON charset, CORS (the API's, and Temporal Web's on the codec
routes), HTTP metrics and the body limit. They run as one pure ASGI middleware; every response keeps the status,
the headers (in their order) and the body it had when each of them was a middleware of its own, and the metrics
count what they counted."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import APIRouter

from api.app import create_app
from stack.settings import Settings
from tests.operator import OPERATOR_HEADERS

_probe = APIRouter()


@_probe.post("/api/probe/crash")
async def _crash() -> None:
    raise RuntimeError("boom")


API_ORIGIN = "http://localhost:4200"
WEB_ORIGIN = "http://localhost:8233"
PREFLIGHT = {"Access-Control-Request-Method": "POST"}
JSON = {"Content-Type": "application/json"}
# name -> (method, path, headers, body)
CASES: dict[str, tuple[str, str, dict[str, str], bytes | None]] = {
    "health": ("GET", "/health", {"X-Request-Id": "r-1"}, None),
    "health_slash": ("GET", "/health/", {}, None),
    "health_origin": ("GET", "/health", {"Origin": API_ORIGIN}, None),
    "health_other_origin": ("GET", "/health", {"Origin": "http://elsewhere.example"}, None),
    "bad_id": ("GET", "/api/orders/nope", {"Origin": API_ORIGIN}, None),
    "too_large": ("POST", "/api/orders", {"Origin": API_ORIGIN, "Content-Type": "application/json"}, b"x" * 65),
    "preflight": (
        "OPTIONS",
        "/api/orders",
        {"Origin": API_ORIGIN, **PREFLIGHT, "Access-Control-Request-Headers": "content-type"},
        None,
    ),
    "codec_preflight": (
        "OPTIONS",
        "/codec/decode",
        {"Origin": WEB_ORIGIN, **PREFLIGHT, "Access-Control-Request-Headers": "content-type,x-namespace"},
        None,
    ),
    "codec_refused": ("POST", "/codec/decode", {"Origin": WEB_ORIGIN, **JSON}, b'{"payloads":[]}'),
    "codec_slash": ("POST", "/codec/decode/", JSON, b'{"payloads":[]}'),
    "codec": ("POST", "/codec/decode", {"Origin": WEB_ORIGIN, **JSON, **OPERATOR_HEADERS}, b'{"payloads":[]}'),
    "shop": ("GET", "/", {"Origin": API_ORIGIN}, None),
    "crash": ("POST", "/api/probe/crash", {"Origin": API_ORIGIN, "X-Request-Id": "r-2"}, None),
    "unknown": ("GET", "/nowhere/", {"Origin": API_ORIGIN}, None),
}
# What each case answered with the middlewares stacked one per concern (recorded on main before merging them).
EXPECTED: dict[str, Any] = {
    "health": {
        "status": 200,
        "headers": [
            ["content-length", "84"],
            ["content-type", "application/json; charset=utf-8"],
            ["vary", "Origin"],
            ["x-request-id", "<id>"],
        ],
        "body": None,
    },
    "health_slash": {
        "status": 200,
        "headers": [
            ["content-length", "84"],
            ["content-type", "application/json; charset=utf-8"],
            ["vary", "Origin"],
            ["x-request-id", "<id>"],
        ],
        "body": None,
    },
    "health_origin": {
        "status": 200,
        "headers": [
            ["content-length", "84"],
            ["content-type", "application/json; charset=utf-8"],
            ["access-control-expose-headers", "Link"],
            ["access-control-allow-origin", "http://localhost:4200"],
            ["vary", "Origin"],
            ["x-request-id", "<id>"],
        ],
        "body": None,
    },
    "health_other_origin": {
        "status": 200,
        "headers": [
            ["content-length", "84"],
            ["content-type", "application/json; charset=utf-8"],
            ["access-control-expose-headers", "Link"],
            ["vary", "Origin"],
            ["x-request-id", "<id>"],
        ],
        "body": None,
    },
    "bad_id": {
        "status": 404,
        "headers": [
            ["content-length", "64"],
            ["content-type", "application/json; charset=utf-8"],
            ["access-control-expose-headers", "Link"],
            ["access-control-allow-origin", "http://localhost:4200"],
            ["vary", "Origin"],
            ["x-request-id", "<id>"],
        ],
        "body": '{"error":"not_found","message":"\'nope\' is not a valid order_id"}',
    },
    "too_large": {
        "status": 413,
        "headers": [
            ["content-length", "88"],
            ["content-type", "application/json; charset=utf-8"],
            ["access-control-expose-headers", "Link"],
            ["access-control-allow-origin", "http://localhost:4200"],
            ["vary", "Origin"],
            ["x-request-id", "<id>"],
        ],
        "body": '{"error":"request_too_large","message":"The request body exceeds the limit of 64 bytes"}',
    },
    "preflight": {
        "status": 200,
        "headers": [
            [
                "vary",
                "Origin, Access-Control-Request-Method, Access-Control-Request-Headers, "
                "Access-Control-Request-Private-Network",
            ],
            ["access-control-allow-methods", "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT, QUERY"],
            ["access-control-max-age", "600"],
            ["access-control-allow-origin", "http://localhost:4200"],
            ["access-control-allow-headers", "content-type"],
            ["content-length", "2"],
            ["content-type", "text/plain; charset=utf-8"],
            ["x-request-id", "<id>"],
        ],
        "body": None,
    },
    "codec_preflight": {
        "status": 200,
        "headers": [
            [
                "vary",
                "Origin, Access-Control-Request-Method, Access-Control-Request-Headers, "
                "Access-Control-Request-Private-Network",
            ],
            ["access-control-allow-methods", "POST"],
            ["access-control-max-age", "600"],
            [
                "access-control-allow-headers",
                "Accept, Accept-Language, Authorization, Content-Language, Content-Type, X-Namespace",
            ],
            ["access-control-allow-credentials", "true"],
            ["access-control-allow-origin", "http://localhost:8233"],
            ["content-length", "2"],
            ["content-type", "text/plain; charset=utf-8"],
            ["x-request-id", "<id>"],
        ],
        "body": None,
    },
    "codec_refused": {
        "status": 401,
        "headers": [
            ["www-authenticate", "Bearer"],
            ["content-length", "102"],
            ["content-type", "application/json; charset=utf-8"],
            ["access-control-expose-headers", "Link"],
            ["vary", "Origin, Origin"],
            ["access-control-allow-credentials", "true"],
            ["access-control-allow-origin", "http://localhost:8233"],
            ["x-request-id", "<id>"],
        ],
        "body": '{"error":"unauthorized","message":"This route needs an operator token: '
        'Authorization: Bearer <token>"}',
    },
    "codec_slash": {
        "status": 401,
        "headers": [
            ["www-authenticate", "Bearer"],
            ["content-length", "102"],
            ["content-type", "application/json; charset=utf-8"],
            ["vary", "Origin, Origin"],
            ["x-request-id", "<id>"],
        ],
        "body": '{"error":"unauthorized","message":"This route needs an operator token: '
        'Authorization: Bearer <token>"}',
    },
    "codec": {
        "status": 200,
        "headers": [
            ["content-length", "15"],
            ["content-type", "application/json; charset=utf-8"],
            ["access-control-expose-headers", "Link"],
            ["vary", "Origin, Origin"],
            ["access-control-allow-credentials", "true"],
            ["access-control-allow-origin", "http://localhost:8233"],
            ["x-request-id", "<id>"],
        ],
        "body": '{"payloads":[]}',
    },
    "shop": {
        "status": 200,
        "headers": [
            ["content-length", "817"],
            ["content-type", "text/html; charset=utf-8"],
            [
                "content-security-policy",
                "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
                "frame-ancestors 'none'",
            ],
            ["x-frame-options", "DENY"],
            ["x-content-type-options", "nosniff"],
            ["referrer-policy", "same-origin"],
            ["cache-control", "no-store"],
            ["access-control-expose-headers", "Link"],
            ["access-control-allow-origin", "http://localhost:4200"],
            ["vary", "Origin"],
            ["x-request-id", "<id>"],
        ],
        "body": None,
    },
    "crash": {
        "status": 500,
        "headers": [["content-length", "96"], ["content-type", "application/json"], ["x-request-id", "<id>"]],
        "body": '{"error":"internal_error","message":"The server failed to handle the request","requestId":"r-2"}',
    },
    "unknown": {
        "status": 404,
        "headers": [
            ["content-length", "50"],
            ["content-type", "application/json; charset=utf-8"],
            ["access-control-expose-headers", "Link"],
            ["access-control-allow-origin", "http://localhost:4200"],
            ["vary", "Origin"],
            ["x-request-id", "<id>"],
        ],
        "body": '{"error":"not_found","message":"No such resource"}',
    },
}
COUNTED = [
    'orderflow_http_requests_total{method="GET",route="/",status="200"} 1.0',
    'orderflow_http_requests_total{method="GET",route="/api/orders/{order_id}",status="404"} 1.0',
    'orderflow_http_requests_total{method="GET",route="/health",status="200"} 4.0',
    'orderflow_http_requests_total{method="GET",route="unmatched",status="404"} 1.0',
    'orderflow_http_requests_total{method="OPTIONS",route="unmatched",status="200"} 1.0',
    'orderflow_http_requests_total{method="POST",route="/api/probe/crash",status="500"} 1.0',
    'orderflow_http_requests_total{method="POST",route="/codec/decode",status="200"} 1.0',
    'orderflow_http_requests_total{method="POST",route="/codec/decode",status="401"} 2.0',
    'orderflow_http_requests_total{method="POST",route="unmatched",status="413"} 1.0',
]


@pytest.fixture
async def edge(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings.model_copy(update={"max_request_bytes": 64}))
    app.include_router(_probe)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client


def wire(response: httpx.Response) -> dict[str, Any]:
    headers = [
        [name.decode(), value.decode() if name.lower() != b"x-request-id" else "<id>"]
        for name, value in response.headers.raw
    ]
    body = response.text if response.headers.get("content-type", "").startswith("application/json") else None
    if response.request.url.path.startswith("/health"):
        body = None  # it carries the time
    return {"status": response.status_code, "headers": headers, "body": body}


async def test_every_response_keeps_its_wire_format(edge: httpx.AsyncClient) -> None:
    answers = {}
    for name, (method, path, headers, body) in CASES.items():
        answers[name] = wire(await edge.request(method, path, headers=headers, content=body))
    assert answers == EXPECTED
    assert answers["health"]["headers"][-1] == ["x-request-id", "<id>"]


async def test_the_metrics_count_every_answer_of_the_edge(edge: httpx.AsyncClient) -> None:
    for method, path, headers, body in CASES.values():
        await edge.request(method, path, headers=headers, content=body)
    metrics = await edge.get("/metrics", headers=OPERATOR_HEADERS)
    counted = sorted(line for line in metrics.text.splitlines() if line.startswith("orderflow_http_requests_total"))
    assert counted == sorted(COUNTED)
