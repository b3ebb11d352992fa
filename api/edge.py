"""The API's edge: one pure ASGI middleware for what every HTTP request goes through.

In the order a request meets them (outermost first), each as it was when it was a middleware of its own:
1. the request id (`api.request_id`): the caller's usable `X-Request-Id` or a new one, on every response; an
   exception nothing handled is answered here by `on_error`, with the id, and with nothing else added;
2. routes answer with or without a trailing slash, without a redirect (contract section 1.9);
3. JSON responses say `Content-Type: application/json; charset=utf-8`, as contract section 1.3 does;
4. one server span per request when tracing is on (workflows started or updated in it continue the trace);
5. CORS for Temporal Web's origin on the codec routes (`api.routes.codec`), around everything below;
6. one count and one latency observation per request (`api.metrics`);
7. the API's own CORS (a preflight is answered here, and counted);
8. anonymous writes beyond the client's bucket (`api.throttle`, `ANON_WRITES_PER_MINUTE`) are answered 429
   `too_many_requests` with `Retry-After`, before anything reads them, with CORS and a count;
9. request bodies over the limit are answered 413 `request_too_large` before anything parses them — a declared
   Content-Length at once, a chunked body at the chunk that crosses the limit — and still get CORS and a count.

One middleware instead of nine: each layer cost a coroutine per request and a wrapper per message sent.
"""

import time
import uuid
from collections.abc import Awaitable, Callable

from fastapi import HTTPException
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import errors, request_id
from api.auth import operator_call
from api.metrics import HttpMetrics
from api.routes import codec
from api.throttle import TokenBuckets, client_address, throttled
from api.web import pages
from stack.settings import Settings

_JSON = b"application/json"
_JSON_UTF8 = b"application/json; charset=utf-8"
_REQUEST_ID = request_id.HEADER.lower().encode()


async def _discard(message: Message) -> None:
    """The `send` of a CORS header pass: `CORSMiddleware.send` adds its headers to the message in place."""


class Edge:
    def __init__(
        self,
        app: ASGIApp,
        *,
        settings: Settings,
        metrics: HttpMetrics,
        on_error: Callable[[Request, Exception], Awaitable[Response]],
        writes: TokenBuckets | None = None,
    ) -> None:
        self.app = app
        self.settings = settings
        self.writes = writes
        self.metrics = metrics
        self.on_error = on_error
        self.max_bytes = settings.max_request_bytes
        self.too_large = f"The request body exceeds the limit of {self.max_bytes} bytes"
        self.tracing = bool(settings.otel_exporter_otlp_endpoint)
        # Starlette's CORS, for its rules only: the API's around the app, Temporal Web's around the codec routes.
        self.cors = CORSMiddleware(
            app,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            allow_credentials=False,
            expose_headers=["Link"],  # a browser client reads the next page of a list from it
        )
        self.codec_cors = codec.web_ui_cors(self._measured, settings.temporal_web_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = dict(scope["headers"]).get(_REQUEST_ID, b"").decode("latin-1")
        rid = sent if request_id.usable(sent) else uuid.uuid4().hex
        token = request_id.enter(rid)
        id_header = (_REQUEST_ID, rid.encode())
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", []), id_header]
            await send(message)

        async def send_json_utf8(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [
                    *(
                        (name, _JSON_UTF8 if name == b"content-type" and value == _JSON else value)
                        for name, value in message.get("headers", [])
                    ),
                    id_header,
                ]
            await send(message)

        path: str = scope["path"]
        inner = dict(scope, path=path.rstrip("/") or "/") if len(path) > 1 and path.endswith("/") else scope
        try:
            if self.tracing:
                from opentelemetry import trace

                tracer = trace.get_tracer("orderflow.api")
                with tracer.start_as_current_span(f"{inner['method']} {inner['path']}", kind=trace.SpanKind.SERVER):
                    await self._route(inner, receive, send_json_utf8)
            else:
                await self._route(inner, receive, send_json_utf8)
        except Exception as exc:
            if started:
                raise
            response = await self.on_error(Request(scope), exc)
            await response(scope, receive, send_with_id)
        finally:
            request_id.leave(token)

    def _route(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["path"].startswith(codec.PREFIX + "/"):
            return self.codec_cors(scope, receive, send)
        return self._measured(scope, receive, send)

    async def _measured(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Metrics, the API's CORS and the body limit, around the app."""
        started = time.perf_counter()
        status = 500
        headers = Headers(raw=scope["headers"])
        preflight = scope["method"] == "OPTIONS" and "origin" in headers and "access-control-request-method" in headers

        async def send_with_cors(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                if not preflight:  # a preflight's answer has its own CORS headers
                    await self.cors.send(message, _discard, headers)
                status = message["status"]
            await send(message)

        try:
            if preflight:
                await self.cors.preflight_response(request_headers=headers)(scope, receive, send_with_cors)
            else:
                await self._throttled(scope, receive, send_with_cors)
        finally:
            # FastAPI's router records the matched route in the (shared) scope.
            self.metrics.observe(scope["method"], scope.get("route"), status, time.perf_counter() - started)

    async def _throttled(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self.writes is not None
            and throttled(scope["method"], scope["path"])
            and not operator_call(self.settings, scope)
        ):
            peer = scope.get("client")
            forwarded = [value.decode("latin-1") for name, value in scope["headers"] if name == b"x-forwarded-for"]
            client = client_address(peer[0] if peer else None, forwarded, self.settings.trusted_proxies)
            wait = self.writes.take(client)
            if wait:
                message = f"Too many writes from this address; retry after {wait} s"
                if scope["path"].startswith("/api/"):
                    response: Response = errors.error_response(429, errors.TOO_MANY_REQUESTS, message)
                else:  # a shop's form: a page the shopper's browser shows
                    response = pages.error_page(Request(scope), 429, "Too many requests", message)
                response.headers["Retry-After"] = str(wait)
                await response(scope, receive, send)
                return
        await self._bounded(scope, receive, send)

    async def _bounded(self, scope: Scope, receive: Receive, send: Send) -> None:
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await errors.error_response(413, errors.REQUEST_TOO_LARGE, self.too_large)(scope, receive, send)
            return
        received = 0

        async def bounded_receive() -> Message:
            nonlocal received
            event = await receive()
            if event["type"] == "http.request":
                received += len(event.get("body", b""))
                if received > self.max_bytes:
                    # Raised inside the request: FastAPI passes it on and errors.py answers it with the body.
                    raise HTTPException(413, self.too_large)
            return event

        await self.app(scope, bounded_receive, send)
