"""Every error leaves the API as `{"error": "<code>", "message": "..."}` (contract section 1.6).

Domain refusals keep their own code and status. Requests the framework cannot bind become 400 (never 422),
malformed path ids and unknown routes become 404, and nothing escapes as an HTML page. The OpenAPI schema says
the same: routes document their error statuses with `ErrorBody` (`responses(...)`), and FastAPI's generated 422,
which this API never sends, is taken out of it.
"""

import logging
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.service import RPCError, RPCStatusCode

from api import auth
from api.request_id import current_request_id
from services.errors import DomainError
from services.schemas import WireModel

log = logging.getLogger(__name__)

REQUEST_TOO_LARGE = "request_too_large"
TOO_MANY_REQUESTS = "too_many_requests"

_HTTP_CODES = {
    400: "bad_request",
    401: auth.UNAUTHORIZED,
    404: "not_found",
    405: "method_not_allowed",
    413: REQUEST_TOO_LARGE,
    415: "unsupported_media_type",
    429: "too_many_requests",
}


class ErrorBody(WireModel):
    """The one error shape (contract section 1.6). Clients branch on `error`; `message` is for people."""

    error: str
    message: str


_DESCRIPTIONS = {
    400: "Refused: the request cannot be bound or breaks a domain rule; `error` names which",
    401: "No operator token, or not a valid one (`Authorization: Bearer <token>`)",
    404: "No such resource, or the id in the path is malformed",
    409: "The order's workflow ended abnormally (terminated, failed or timed out): `order_workflow_not_running`",
    415: "The request body is not application/json",
    422: "The Idempotency-Key was already used for a different request: `idempotency_key_reused`",
    429: "Too many actions on this order at once, or too many writes from this address without an operator token: "
    "retry after `Retry-After` seconds",
    503: (
        "PostgreSQL or Temporal is unreachable, an order did not answer in time, or placing it kept failing: "
        "retry later"
    ),
}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI documentation of error statuses a route answers with, all with the `ErrorBody` shape."""
    return {status: {"model": ErrorBody, "description": _DESCRIPTIONS[status]} for status in statuses}


def error_response(status_code: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The error body; a server-side failure (5xx) also names the request id its log lines carry."""
    content = {"error": code, "message": message}
    request_id = current_request_id()
    if status_code >= 500 and request_id is not None:
        content["requestId"] = request_id
    return JSONResponse(status_code=status_code, content=content, headers=headers)


def _location(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc[1:]:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or str(loc[0])


async def _domain_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    return error_response(exc.status_code, exc.code, exc.message)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    refused = auth.refusal(request)
    if refused is not None:
        return await _http_error(request, refused)
    errors = exc.errors()
    first = errors[0] if errors else {"loc": ("body",), "msg": "invalid request", "type": "invalid"}
    loc = tuple(first.get("loc", ("body",)))
    if loc and loc[0] == "path":
        return error_response(404, "not_found", f"'{first.get('input')}' is not a valid {loc[-1]}")
    if first.get("type") == "json_invalid":
        return error_response(400, "malformed_json", "The request body is not valid JSON")
    content_type = request.headers.get("content-type", "")
    if loc and loc[0] == "body" and content_type and "json" not in content_type:
        return error_response(415, "unsupported_media_type", "The request body must be application/json")
    if loc == ("body",) and first.get("type") == "missing":
        return error_response(400, "body_required", "A JSON request body is required")
    where = "query parameter" if loc and loc[0] == "query" else "field"
    return error_response(400, "invalid_request", f"{where} '{_location(loc)}': {first.get('msg')}")


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    # e.g. a body that is not UTF-8, refused before the guard
    refused = auth.refusal(request) if exc.status_code not in (401, 429) else None
    if refused is not None:
        exc = refused
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else code
    if exc.status_code == 404:
        message = "No such resource"
    return JSONResponse(
        status_code=exc.status_code,
        content={"error": code, "message": message},
        headers=getattr(exc, "headers", None),
    )


_TRANSIENT_RPC = {RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED}
RETRY_AFTER_SECONDS = 1


_OUTAGE_CAUSES = (
    OSError,  # refused connection, missing socket
    asyncpg.exceptions.OperatorInterventionError,  # shutting down, restarting, terminated by the administrator
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.TooManyConnectionsError,
)


def _database_outage(exc: DBAPIError) -> bool:
    """Whether the database was unreachable (as opposed to refusing this statement)."""
    if exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError):
        return True
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, _OUTAGE_CAUSES):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


async def _dependency_down(request: Request, exc: Exception) -> JSONResponse:
    """An outage of PostgreSQL or Temporal is a 503 (retry later), as /ready reports it, never a 500.

    Nothing is lost: a write either committed before the outage or did not happen, and every action is safe to
    retry (placement with its Idempotency-Key).
    """
    if isinstance(exc, RPCError):
        if exc.status == RPCStatusCode.RESOURCE_EXHAUSTED:
            # Temporal's per-run limits (updates in flight on one order) or its rate limits: busy, not broken
            log.warning(
                "%s %s: Temporal is busy (request_id=%s)", request.method, request.url.path, current_request_id()
            )
            return error_response(
                429,
                TOO_MANY_REQUESTS,
                "Too many actions on this order at once; retry shortly",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        if exc.status not in _TRANSIENT_RPC:
            return await unhandled(request, exc)
        code, what = "temporal_unavailable", "Temporal"
    elif isinstance(exc, DBAPIError):
        if not _database_outage(exc):
            return await unhandled(request, exc)
        code, what = "database_unavailable", "The database"
    elif isinstance(exc, PoolTimeoutError):
        code, what = "database_busy", "The database"
    else:  # OSError: a refused connection or a missing socket while a server restarts
        code, what = "dependency_unavailable", "A backing service"
    log.warning(
        "%s %s: %s is unreachable (request_id=%s): %s",
        request.method,
        request.url.path,
        what,
        current_request_id(),
        exc,
    )
    return error_response(503, code, f"{what} is unreachable; retry later")


async def unhandled(request: Request, exc: Exception) -> JSONResponse:
    log.error(
        "unhandled error on %s %s (request_id=%s)",
        request.method,
        request.url.path,
        current_request_id(),
        exc_info=exc,
    )
    return error_response(500, "internal_error", "The server failed to handle the request")


def _without_422(app: FastAPI) -> None:
    """FastAPI documents a 422 on every route that binds input; binding failures are 400 here (see above)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            for path in schema.get("paths", {}).values():
                for operation in path.values():
                    if isinstance(operation, dict) and "HTTPValidationError" in str(
                        operation.get("responses", {}).get("422")
                    ):
                        operation["responses"].pop("422")
            for name in ("HTTPValidationError", "ValidationError"):
                schema.get("components", {}).get("schemas", {}).pop(name, None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def install(app: FastAPI) -> None:
    _without_422(app)
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for outage in (RPCError, DBAPIError, PoolTimeoutError, OSError):
        app.add_exception_handler(outage, _dependency_down)
    app.add_exception_handler(Exception, unhandled)
