"""Who may call what: customers are anonymous, operators present a bearer token (`OPERATOR_TOKENS`).

An operator route declares it by depending on an `OperatorGuard` (`dependencies=[OPERATOR]` on the route or on
its router); nothing else decides. A guard may admit one more credential besides the token: the codec routes
admit Temporal Web's calls that carry the console's session (`api.routes.codec`). The OpenAPI schema follows
from that declaration: the dependency brings the bearer scheme, and `install` documents the 401 on every
operation that has it. `AUTH_MODE=open` lets every caller through, as the seed did. A client that presents wrong
tokens is throttled (`api.guessing`): its sixth failure within a minute, and anything it presents after that until
the minute has passed, is answered 429 `too_many_requests` with `Retry-After`.
"""

import hmac
import time
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.datastructures import Headers
from starlette.types import Scope

from api.client import client_address
from api.guessing import FailureThrottle
from stack.settings import Settings

SCHEME = "operatorToken"
UNAUTHORIZED = "unauthorized"
CHALLENGE = {"WWW-Authenticate": "Bearer"}
_DECIDED = "orderflow.operator"  # the request's state: whether it carries operator credentials

# auto_error=False: a missing or malformed header is refused below with the API's own error body.
_bearer = HTTPBearer(
    scheme_name=SCHEME,
    description="An operator token (one of `OPERATOR_TOKENS`), sent as `Authorization: Bearer <token>`.",
    auto_error=False,
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def operator_token_valid(settings: Settings, token: str | None) -> bool:
    """Whether `token` is one of the configured operator tokens, compared in constant time against each."""
    if not token:
        return False
    candidate = token.encode()
    valid = False
    for known in settings.operator_tokens:
        valid |= hmac.compare_digest(candidate, known.encode())
    return valid


def is_operator(settings: Settings, authorization: str | None) -> bool:
    """Whether a request with this `Authorization` header may call operator routes (always, in open mode)."""
    if settings.auth_mode == "open":
        return True
    scheme, _, token = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and operator_token_valid(settings, token.strip())


def operator_call(settings: Settings, scope: Scope) -> bool:
    """`is_operator` for this request, decided once: the edge asks it of every write, the route's guard again."""
    state = scope.setdefault("state", {})
    if _DECIDED not in state:
        state[_DECIDED] = is_operator(settings, Headers(scope=scope).get("authorization"))
    decided: bool = state[_DECIDED]
    return decided


def unauthorized() -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, "This route needs an operator token: Authorization: Bearer <token>", CHALLENGE
    )


def too_many_failures(retry_after: int) -> HTTPException:
    return HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS,
        f"Too many wrong operator tokens from this address; retry after {retry_after} s",
        {"Retry-After": str(retry_after)},
    )


def failures(request: Request) -> FailureThrottle:
    """The app's record of failed credentials (operator tokens and console logins), per client."""
    throttle: FailureThrottle = request.app.state.auth_failures
    return throttle


class OperatorGuard:
    """The operator guard of a route: an operator token, or what `also` admits; FastAPI runs it before it binds
    the route's own parameters."""

    def __init__(self, also: Callable[[Request], bool] | None = None) -> None:
        self.also = also

    def admits(self, request: Request) -> bool:
        if operator_call(request.app.state.settings, request.scope):
            return True
        return self.also is not None and self.also(request)

    def refusal(self, request: Request) -> HTTPException | None:
        """None when the request is admitted; else 429 while its client is throttled, or 401 (and a wrong token
        it presented counts as one more failure)."""
        client, now = client_address(request), time.monotonic()
        wait = failures(request).retry_after(client, now)
        if wait is not None:
            return too_many_failures(wait)
        if self.admits(request):
            return None
        if request.headers.get("authorization"):
            failures(request).fail(client, now)
        return unauthorized()

    async def __call__(self, request: Request, _scheme: Credentials) -> None:
        """`_scheme` puts the bearer scheme into the OpenAPI schema; the decision reads the header itself, the
        same way `refusal` does."""
        refused = self.refusal(request)
        if refused is not None:
            raise refused


require_operator = OperatorGuard()
OPERATOR = Depends(require_operator)


async def _caller_is_operator(request: Request) -> bool:
    """A wrong token counts as a failure here too, and a throttled client is no operator: a public route that
    answers an operator differently must not be a way to test guesses unthrottled."""
    return require_operator.refusal(request) is None


# For a public route that lets an operator do more than a customer.
CallerIsOperator = Annotated[bool, Depends(_caller_is_operator)]


def operator_guard(route: object) -> OperatorGuard | None:
    """The operator guard of `route` (a FastAPI route, or anything else a request matched), if it has one."""
    if not isinstance(route, APIRoute):
        return None
    pending = list(route.dependant.dependencies)
    while pending:
        dependant = pending.pop()
        if isinstance(dependant.call, OperatorGuard):
            return dependant.call
        pending.extend(dependant.dependencies)
    return None


def requires_operator(route: object) -> bool:
    """Whether `route` (a FastAPI route, or anything else a request matched) is an operator route."""
    return operator_guard(route) is not None


def refusal(request: Request) -> HTTPException | None:
    """The guard's refusal (401, or 429 while throttled) of a request that matched an operator route without an
    operator's credentials; None otherwise.

    FastAPI parses a JSON body before it runs any dependency, so a malformed one (not JSON, not UTF-8) would
    otherwise answer 400 before the guard answers 401 (and tell a right token from a wrong one unthrottled): the
    error handlers (errors.py) ask this first.
    """
    guard = operator_guard(request.scope.get("route"))
    return guard.refusal(request) if guard is not None else None


def install(app: FastAPI) -> None:
    """Document the 401 (with its challenge) on every operation the bearer scheme guards."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                if isinstance(operation, dict) and {SCHEME: []} in operation.get("security", []):
                    operation["responses"].setdefault(
                        "401",
                        {
                            "description": "No operator token, or not a valid one",
                            "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
                        },
                    )
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
