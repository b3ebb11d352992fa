"""The e2e package drives the session's process stack (`process_stack` in tests/conftest.py: PostgreSQL, dev
server, worker, API), which the browser journeys share.

Starting it costs several seconds, so the seed scenarios and the drills share it; every test starts with
`ensure_running()`, so a drill that failed half-way does not take the next test down with it. When an e2e test
fails, the tails of the children's logs are added to its report.
"""

from collections.abc import AsyncIterator, Generator

import httpx
import pytest

from tests.e2e.processes import Stack

HTTP_TIMEOUT = httpx.Timeout(60.0, connect=5.0)  # the API answers 503 order_action_pending after 30 s

_running: list[Stack] = []


@pytest.fixture
async def stack(process_stack: Stack) -> Stack:
    """The session's stack, with every process running and the API ready."""
    _running[:] = [process_stack]
    await process_stack.ensure_running()
    return process_stack


@pytest.fixture
async def http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the API that presents the operator token."""
    async with stack.http_client(HTTP_TIMEOUT) as client:
        yield client


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, None, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    if report.failed and _running:
        report.sections.append(("e2e child logs", _running[-1].log_tails()))
