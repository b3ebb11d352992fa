"""Browser journeys: Debian's Chromium, driven by Playwright, against the stack running as processes.

The stack is the session's process stack, shared with tests/e2e (embedded PostgreSQL, Temporal dev server, worker,
API), in token mode with one operator token, plus a second API process whose orders expire after a few seconds
(the expiry journey).
Playwright never downloads a browser here: it launches `/usr/bin/chromium` (or `CHROMIUM_PATH`). Without a
browser every journey is skipped, with one line at the end of the run that says how to enable them.
Screenshots go to `SCREENSHOTS_DIR`, or to `screenshots/` under pytest's temporary directory.
"""

import os
import shutil
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tooling.processes import HOST, Child, Stack, free_port, uvicorn_args

if TYPE_CHECKING:
    from playwright.async_api import Browser

SHORT_PAYMENT_TIMEOUT_SECONDS = 8
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ENABLE_HINT = (
    "browser journeys SKIPPED: no Chromium at {path}. Enable them with `apt-get install -y chromium` "
    "(or set CHROMIUM_PATH to a Chromium binary); .ci/run installs it."
)


def chromium_path() -> str:
    return os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def _browser_missing() -> str | None:
    path = chromium_path()
    if not (os.path.isfile(path) and os.access(path, os.X_OK)) and shutil.which(path) is None:
        return ENABLE_HINT.format(path=path)
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "browser journeys SKIPPED: the playwright package is missing; run `make .venv/.installed`."
    return None


MISSING = _browser_missing()  # tests/conftest.py says so at the end of the run


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if MISSING is None:
        return
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.skip(reason=MISSING))


@dataclass
class Journeys:
    """The running stack as the journeys see it: two base URLs and the screenshots folder."""

    stack: Stack
    short_api: Child
    short_port: int
    screenshots: Path

    @property
    def base_url(self) -> str:
        return self.stack.base_url

    @property
    def short_url(self) -> str:
        return f"http://{HOST}:{self.short_port}"


@pytest.fixture(scope="package")
async def journeys(process_stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Journeys]:
    stack = process_stack
    await stack.ensure_running()
    port = free_port()
    short_api = Child("api-short-timeout", uvicorn_args(port), stack.root / "api-short-timeout.log")
    try:
        short_api.start({**stack.env(), "PAYMENT_TIMEOUT_SECONDS": str(SHORT_PAYMENT_TIMEOUT_SECONDS)})
        await stack.wait_api_ready(api=short_api, base_url=f"http://{HOST}:{port}")
        shots = Path(os.environ.get("SCREENSHOTS_DIR") or tmp_path_factory.getbasetemp() / "screenshots")
        shots.mkdir(parents=True, exist_ok=True)
        yield Journeys(stack=stack, short_api=short_api, short_port=port, screenshots=shots)
    except BaseException:
        print(stack.log_tails(), file=sys.stderr)
        raise
    finally:
        short_api.stop()


@pytest.fixture(scope="package")
async def browser() -> AsyncIterator["Browser"]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()
