"""The throttle of failed credentials, as a pure record of failures and the times they happened."""

from api.guessing import FailureThrottle


def test_the_sixth_failure_within_the_window_waits_until_the_oldest_is_a_window_old() -> None:
    throttle = FailureThrottle(limit=5, window=60)
    for second in range(5):
        assert throttle.retry_after("a", second) is None
        throttle.fail("a", second)
    assert throttle.retry_after("a", 10) == 50
    assert throttle.retry_after("b", 10) is None  # per client
    assert throttle.retry_after("a", 60) is None  # the first failure is a minute old: one more try
    throttle.fail("a", 60)
    assert throttle.retry_after("a", 60) == 1


def test_failures_spread_out_never_lock_a_client_out() -> None:
    throttle = FailureThrottle(limit=5, window=60)
    for minute in range(100):
        assert throttle.retry_after("a", minute * 15.0) is None
        throttle.fail("a", minute * 15.0)


def test_memory_is_bounded_by_the_clients_seen_most_recently() -> None:
    throttle = FailureThrottle(limit=2, window=60, max_clients=3)
    for client in ("a", "b", "c", "d"):
        throttle.fail(client, 0)
        throttle.fail(client, 0)
    assert throttle.retry_after("a", 1) is None  # forgotten: the least recently seen of four
    assert all(throttle.retry_after(client, 1) == 59 for client in ("b", "c", "d"))
