"""`assert_eventually`: the one way a test waits for something that becomes true later (sdk-python's tests' shape).

For what a test cannot make happen at a known moment (Temporal visibility, a process getting ready, a session
waiting for a lock). A check is an async function that returns when it holds and raises AssertionError while it
does not; after `timeout` seconds its last AssertionError is raised, with the check's own message. Any other
error ends the wait at once. Time-skipping workflow tests never need this: their clock is skipped instead.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def assert_eventually(check: Callable[[], Awaitable[T]], *, timeout: float = 10.0, interval: float = 0.1) -> T:
    """Await `check` until it passes and return what it returns; re-raise its AssertionError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await check()
        except AssertionError:
            if time.monotonic() >= deadline:
                raise
        await asyncio.sleep(interval)
