"""One process stack for the whole e2e package (PostgreSQL, dev server, worker, API), torn down at the end.

Starting it costs several seconds, so the seed scenarios and the drills share it; every test starts with
`ensure_running()`, so a drill that failed half-way does not take the next test down with it. When an e2e test
fails, the tails of the children's logs are added to its report.
"""

from collections.abc import AsyncIterator, Generator

import httpx
import pytest

from tests.e2e.processes import Stack, start_stack

HTTP_TIMEOUT = httpx.Timeout(60.0, connect=5.0)  # the API answers 503 order_action_pending after 30 s

_running: list[Stack] = []


@pytest.fixture(scope="package")
async def e2e_stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    stack = await start_stack(tmp_path_factory.mktemp("e2e"))
    _running.append(stack)
    try:
        yield stack
    finally:
        _running.remove(stack)
        stack.close()


@pytest.fixture
async def stack(e2e_stack: Stack) -> Stack:
    """The package's stack, with every process running and the API ready."""
    await e2e_stack.ensure_running()
    return e2e_stack


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
