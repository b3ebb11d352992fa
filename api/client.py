"""Who a request comes from, for the limits kept per client."""

from starlette.requests import Request


def client_address(request: Request) -> str:
    """The address the limits per client count against: the peer of the connection.

    The one place where a request's client is decided: which proxies' `X-Forwarded-For` to believe
    (`TRUSTED_PROXIES`) is decided here for every limit kept per client (api/guessing.py and the anonymous
    write limit alike)."""
    return request.client.host if request.client is not None else "unknown"
