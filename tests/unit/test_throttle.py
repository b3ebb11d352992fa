"""The bucket of anonymous writes and who the client is (api.throttle), on a clock the test moves."""

from ipaddress import ip_network

import pytest

from api.throttle import TokenBuckets, client_address, throttled

PROXIES = [ip_network("10.0.0.0/8"), ip_network("::1/128")]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_minutes_writes_at_once_then_one_a_second() -> None:
    clock = Clock()
    buckets = TokenBuckets(60, clock)
    assert [buckets.take("a") for _ in range(60)] == [0] * 60
    assert buckets.take("a") == 1  # the 61st waits a second
    assert buckets.take("b") == 0  # another client has its own bucket
    clock.now += 0.5
    assert buckets.take("a") == 1  # half a token is not a write
    clock.now += 0.5
    assert buckets.take("a") == 0
    assert buckets.take("a") == 1


def test_the_wait_is_whole_seconds_until_a_token() -> None:
    clock = Clock()
    buckets = TokenBuckets(6, clock)  # one token every 10 s
    assert [buckets.take("a") for _ in range(6)] == [0] * 6
    assert buckets.take("a") == 10
    clock.now += 7.5
    assert buckets.take("a") == 3


def test_a_refilled_client_is_forgotten_and_the_count_is_bounded() -> None:
    clock = Clock()
    buckets = TokenBuckets(60, clock, max_clients=3)
    for client in "abc":
        buckets.take(client)
    buckets.take("d")  # over the bound: the least recently seen goes
    assert len(buckets) == 3
    clock.now += 60  # every bucket refilled: nothing worth keeping
    buckets.take("e")
    assert len(buckets) == 1


def test_the_peer_is_the_client_unless_it_is_a_trusted_proxy() -> None:
    assert client_address("203.0.113.9", ["198.51.100.1"], PROXIES) == "203.0.113.9"  # untrusted peer: XFF ignored
    assert client_address("203.0.113.9", ["198.51.100.1"], []) == "203.0.113.9"
    assert client_address("10.1.2.3", [], PROXIES) == "10.1.2.3"
    assert client_address(None, [], PROXIES) == "unknown"


def test_behind_trusted_proxies_the_right_most_untrusted_hop_is_the_client() -> None:
    # the client wrote "1.1.1.1" itself; 198.51.100.7 is who reached the first trusted proxy
    assert client_address("10.0.0.1", ["1.1.1.1, 198.51.100.7"], PROXIES) == "198.51.100.7"
    assert client_address("10.0.0.1", ["1.1.1.1, 198.51.100.7, 10.0.0.2"], PROXIES) == "198.51.100.7"
    assert client_address("::1", ["1.1.1.1", "198.51.100.7 , 10.9.9.9"], PROXIES) == "198.51.100.7"  # two headers
    assert client_address("10.0.0.1", ["not-an-ip, 10.0.0.2"], PROXIES) == "not-an-ip"
    assert client_address("10.0.0.1", ["10.0.0.3, 10.0.0.2"], PROXIES) == "10.0.0.3"  # proxies all the way
    assert client_address("10.0.0.1", [], PROXIES) == "10.0.0.1"


@pytest.mark.parametrize(
    ("method", "path", "counted"),
    [
        ("POST", "/api/orders", True),
        ("PUT", "/api/carts/x/items/y", True),
        ("DELETE", "/api/carts/x/items/y", True),
        ("PATCH", "/api/products/x", True),
        ("POST", "/cart/items", True),
        ("POST", "/checkout", True),
        ("GET", "/api/products", False),
        ("OPTIONS", "/api/orders", False),
        ("POST", "/ops/login", False),
        ("POST", "/codec/decode", False),
    ],
)
def test_which_requests_are_writes(method: str, path: str, counted: bool) -> None:
    assert throttled(method, path) is counted
