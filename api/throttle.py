"""Anonymous writes, a token bucket per client: `ANON_WRITES_PER_MINUTE` at once, refilled at that rate.

The client is its address: the direct peer, or — only when the peer is one of `TRUSTED_PROXIES` — the right-most
address of `X-Forwarded-For` that is not a trusted proxy (everything left of it, the client could have written).
The buckets live in the process, bounded: a client idle long enough to have refilled its bucket carries nothing
a fresh bucket would not, so it is dropped, and beyond `MAX_CLIENTS` the least recently seen go first. Each API
replica keeps its own buckets, so N replicas behind a balancer let a client write up to N times the rate.

Hand-written rather than pyrate-limiter: that library keeps a timestamp per request (a minute's worth per client)
and answers no wait time; a bucket is two numbers per client and the wait is one division.
"""

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from ipaddress import IPv4Network, IPv6Network, ip_address
from typing import Any

from fastapi import FastAPI

MAX_CLIENTS = 100_000
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# The console has its own sessions (and its login its own throttle); the codec routes change nothing.
UNTHROTTLED_PREFIXES = ("/ops", "/codec")

Network = IPv4Network | IPv6Network


def _trusted(address: str, proxies: Sequence[Network]) -> bool:
    try:
        ip = ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in network for network in proxies)


def client_address(peer: str | None, forwarded_for: Sequence[str], proxies: Sequence[Network]) -> str:
    """Who sent the request: the peer, unless a trusted proxy forwarded it (then the right-most untrusted hop)."""
    if peer is None or not _trusted(peer, proxies):
        return peer or "unknown"
    hops = [hop.strip() for header in forwarded_for for hop in header.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, proxies):
            return hop
    return hops[0] if hops else peer  # proxies all the way: the farthest one is the client


def throttled(method: str, path: str) -> bool:
    """Whether a request is a write the bucket counts (when anonymous)."""
    return method in WRITES and not path.startswith(UNTHROTTLED_PREFIXES)


class TokenBuckets:
    """One bucket per client: `per_minute` tokens at most, `per_minute / 60` more each second."""

    def __init__(
        self, per_minute: int, clock: Callable[[], float] = time.monotonic, max_clients: int = MAX_CLIENTS
    ) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.clock = clock
        self.max_clients = max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # client -> (tokens, when counted)

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, client: str) -> int:
        """0 when `client` may write now (its token is taken), else the whole seconds until it may."""
        now = self.clock()
        self._evict(now)
        tokens, at = self._buckets.pop(client, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - at) * self.rate)
        if tokens >= 1:
            self._buckets[client] = (tokens - 1, now)
            return 0
        self._buckets[client] = (tokens, now)
        return max(1, math.ceil((1 - tokens) / self.rate))

    def _evict(self, now: float) -> None:
        """Least recently seen first: a bucket idle for a whole refill is full, the same as none."""
        refill = self.capacity / self.rate
        while self._buckets:
            client, (_, at) = next(iter(self._buckets.items()))
            if now - at < refill and len(self._buckets) < self.max_clients:
                return
            del self._buckets[client]


def install(app: FastAPI) -> None:
    """Document the 429 (with its `Retry-After`) on every operation the bucket counts."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                if isinstance(operation, dict) and throttled(method.upper(), path):
                    operation["responses"].setdefault(
                        "429",
                        {
                            "description": "Too many writes from this address without an operator token: retry "
                            "after `Retry-After` seconds (`too_many_requests`), or too many actions on one order",
                            "headers": {"Retry-After": {"schema": {"type": "integer"}}},
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
                        },
                    )
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
