"""The paging of every list endpoint: `?limit=&cursor=` in, a bare JSON array and an RFC 8288 `Link` out.

The body stays the contract's JSON array (section 1.5), so clients that read arrays keep working; the next page
is announced in `Link: </api/orders?limit=100&cursor=...>; rel="next"`, absent on the last page. The link is
relative to the request's URL, as `Location` headers are here, and keeps the request's other query parameters
(filters), so following it continues the same list. The keyset itself is `services.paging`.
"""

from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from fastapi import Query, Request, Response

from api.errors import responses
from services.paging import DEFAULT_LIMIT, MAX_CURSOR_LENGTH, MAX_LIMIT, PageRequest, PageResult

LIMIT = "limit"
CURSOR = "cursor"

T = TypeVar("T")


class PageParams:
    """The page a list request asks for, and how its answer announces the next one."""

    def __init__(self, request: Request, response: Response, page: PageRequest) -> None:
        self._request = request
        self._response = response
        self.request = page

    def answer(self, result: PageResult[T]) -> list[T]:
        """The page's rows, as the body; the `Link` header to the next page when there is one."""
        if result.next_cursor is not None:
            kept = [(k, v) for k, v in self._request.query_params.multi_items() if k not in (LIMIT, CURSOR)]
            query = urlencode([*kept, (LIMIT, str(self.request.limit)), (CURSOR, result.next_cursor)])
            self._response.headers["Link"] = f'<{self._request.url.path}?{query}>; rel="next"'
        return result.items


async def get_page(
    request: Request,
    response: Response,
    limit: Annotated[
        int,
        Query(
            description=f"At most this many rows (1 to {MAX_LIMIT}); out of range is 400 `invalid_limit`.",
            json_schema_extra={"minimum": 1, "maximum": MAX_LIMIT},
        ),
    ] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None,
        Query(
            description=(
                'Where the page starts: the opaque `cursor` of the previous response\'s `Link: <...>; rel="next"`. '
                "Omit it for the first page. A cursor not made by this list is 400 `invalid_cursor`."
            ),
            json_schema_extra={"maxLength": MAX_CURSOR_LENGTH},
        ),
    ] = None,
) -> PageParams:
    return PageParams(request, response, PageRequest(limit=limit, cursor=cursor))


LINK_HEADER: dict[str, Any] = {
    "description": (
        'RFC 8288 link to the next page, relative to the request\'s URL: `<path?...&limit=..&cursor=..>; rel="next"`, '
        "with the request's other query parameters kept. Absent on the last page."
    ),
    "schema": {"type": "string"},
}


def paged_responses() -> dict[int | str, dict[str, Any]]:
    """OpenAPI of a list endpoint: the `Link` header on 200, and 400 for a bad `limit` or `cursor`."""
    return {200: {"headers": {"Link": LINK_HEADER}}, **responses(400)}
