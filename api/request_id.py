"""`X-Request-Id`: every response carries one (the caller's, if it sent a usable one, else a new one), and the
logs of the request name it, so a 5xx body's `requestId` leads an operator to the server's side of the story.
"""

import re
import uuid
from collections.abc import Awaitable, Callable
from contextvars import ContextVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "X-Request-Id"
_USABLE = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_current: ContextVar[str | None] = ContextVar("request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request being served (None outside a request)."""
    return _current.get()


class RequestIds:
    """A pure ASGI middleware: the request id, echoed (or generated) on every HTTP response.

    An exception nothing handled is answered here by `on_error`, while the request id is still known (Starlette's
    own last-resort handler runs outside every middleware).
    """

    def __init__(self, app: ASGIApp, on_error: Callable[[Request, Exception], Awaitable[Response]]) -> None:
        self.app = app
        self.on_error = on_error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = dict(scope.get("headers") or []).get(HEADER.lower().encode(), b"").decode("latin-1")
        request_id = sent if _USABLE.fullmatch(sent) else uuid.uuid4().hex
        token = _current.set(request_id)

        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", []), (HEADER.lower().encode(), request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            if started:
                raise
            response = await self.on_error(Request(scope), exc)
            await response(scope, receive, send_with_id)
        finally:
            _current.reset(token)
