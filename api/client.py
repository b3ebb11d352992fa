"""Who a request comes from, for the limits kept per client."""

from starlette.requests import Request


def client_address(request: Request) -> str:
    """The address the limits per client count against: the peer of the connection.

    The one place to decide which proxies' `X-Forwarded-For` to believe (`TRUSTED_PROXIES`)."""
    return request.client.host if request.client is not None else "unknown"
