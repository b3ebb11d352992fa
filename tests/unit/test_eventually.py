"""`assert_eventually` returns once its check passes, and fails with the check's own message when it never does."""

import pytest

from tests.eventually import assert_eventually


async def test_returns_what_the_check_returns_once_it_passes() -> None:
    calls: list[int] = []

    async def third_time_lucky() -> int:
        calls.append(1)
        assert len(calls) >= 3, "not yet"
        return len(calls)

    assert await assert_eventually(third_time_lucky, interval=0) == 3


async def test_a_check_that_never_passes_fails_with_its_last_message() -> None:
    calls: list[int] = []

    async def never() -> None:
        calls.append(1)
        raise AssertionError(f"attempt {len(calls)}")

    with pytest.raises(AssertionError) as failed:
        await assert_eventually(never, timeout=0, interval=0)
    assert str(failed.value) == f"attempt {len(calls)}"


async def test_an_error_other_than_an_assertion_ends_the_wait_at_once() -> None:
    calls: list[int] = []

    async def broken() -> None:
        calls.append(1)
        raise RuntimeError("the process exited")

    with pytest.raises(RuntimeError, match="the process exited"):
        await assert_eventually(broken, timeout=60)
    assert len(calls) == 1
