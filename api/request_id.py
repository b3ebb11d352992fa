"""`X-Request-Id`: every response carries one (the caller's, if it sent a usable one, else a new one), and the
logs of the request name it, so a 5xx body's `requestId` leads an operator to the server's side of the story.
"""

import re
from contextvars import ContextVar, Token

HEADER = "X-Request-Id"
_USABLE = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_current: ContextVar[str | None] = ContextVar("request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request being served (None outside a request)."""
    return _current.get()


def usable(sent: str) -> bool:
    """Whether an `X-Request-Id` a caller sent can be echoed (and logged) as it is."""
    return _USABLE.fullmatch(sent) is not None


def enter(request_id: str) -> Token[str | None]:
    """Make `request_id` the current request's id (`api.edge` does, for each request); undo with `leave`."""
    return _current.set(request_id)


def leave(token: Token[str | None]) -> None:
    _current.reset(token)
