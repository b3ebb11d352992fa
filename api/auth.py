"""Who may call what: customers are anonymous, operators present a bearer token (`OPERATOR_TOKENS`).

An operator route declares it by depending on an `OperatorGuard` (`dependencies=[OPERATOR]` on the route or on
its router); nothing else decides. A guard may admit one more credential besides the token: the codec routes
admit Temporal Web's calls that carry the console's session (`api.routes.codec`). The OpenAPI schema follows
from that declaration: the dependency brings the bearer scheme, and `install` documents the 401 on every
operation that has it. `AUTH_MODE=open` lets every caller through, as the seed did.
"""

import hmac
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.datastructures import Headers
from starlette.types import Scope

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


class OperatorGuard:
    """The operator guard of a route: an operator token, or what `also` admits; FastAPI runs it before it binds
    the route's own parameters."""

    def __init__(self, also: Callable[[Request], bool] | None = None) -> None:
        self.also = also

    def admits(self, request: Request) -> bool:
        if operator_call(request.app.state.settings, request.scope):
            return True
        return self.also is not None and self.also(request)

    async def __call__(self, request: Request, _scheme: Credentials) -> None:
        """`_scheme` puts the bearer scheme into the OpenAPI schema; the decision reads the header itself, the
        same way `refuses` does."""
        if not self.admits(request):
            raise unauthorized()


require_operator = OperatorGuard()
OPERATOR = Depends(require_operator)


async def _caller_is_operator(request: Request) -> bool:
    return operator_call(request.app.state.settings, request.scope)


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


def refuses(request: Request) -> bool:
    """Whether the request matched an operator route without an operator's credentials.

    FastAPI parses a JSON body before it runs any dependency, so a malformed one (not JSON, not UTF-8) would
    otherwise answer 400 before the guard answers 401: the error handlers (errors.py) ask this first.
    """
    guard = operator_guard(request.scope.get("route"))
    return guard is not None and not guard.admits(request)


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
