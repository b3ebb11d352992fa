"""Who a request comes from, for the limits kept per client."""

from starlette.requests import Request

from api.throttle import client_address as forwarded_client
from stack.settings import Settings


def client_address(request: Request) -> str:
    """The address the limits per client count against (api/guessing.py and the anonymous write limit alike):
    the peer, or the client a trusted proxy (`TRUSTED_PROXIES`) names in `X-Forwarded-For`."""
    settings: Settings = request.app.state.settings
    peer = request.client.host if request.client is not None else None
    return forwarded_client(peer, request.headers.getlist("x-forwarded-for"), settings.trusted_proxies)
