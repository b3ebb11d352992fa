"""The `Idempotency-Key` header of the API's POST routes, read into a `usecases.idempotency.KeyedRequest`."""

from typing import Annotated

from fastapi import Depends, Header, Request
from starlette.routing import Route

from stack.settings import Settings
from usecases.idempotency import KeyedRequest, keyed_request

KEY_MAX_LENGTH = 200


async def get_keyed_request(
    request: Request,
    key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=KEY_MAX_LENGTH,
            description="Retrying with the same key and the same request repeats nothing and answers as the first "
            "attempt did; the same key with a different request is refused (422 `idempotency_key_reused`).",
        ),
    ] = None,
) -> KeyedRequest | None:
    if key is None:
        return None
    route = request.scope.get("route")
    template = route.path if isinstance(route, Route) else request.url.path
    settings: Settings = request.app.state.settings
    return keyed_request(settings, f"{request.method} {template}", request.url.path, key)


Idempotency = Annotated[KeyedRequest | None, Depends(get_keyed_request)]
