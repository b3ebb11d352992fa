"""The whole stack in-process for page tests: the API (pages included) and a worker on the session's dev
server, on this test's database, in token mode with one operator token and an app secret."""

from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from stack.settings import Settings
from tests.conftest import open_stack
from tests.operator import OPERATOR_TOKEN
from tests.provider import LocalStripe


@pytest.fixture
def web_settings(order_settings: Settings, localstripe: LocalStripe) -> Settings:
    """Card payments go to the session's localstripe, as in `make run`."""
    return order_settings.model_copy(
        update={
            "auth_mode": "token",
            "operator_tokens": [OPERATOR_TOKEN],
            "app_secret": SecretStr("app-secret-for-page-tests"),
            "stripe_api_base": localstripe.base_url,
        }
    )


@pytest.fixture
async def web(
    web_settings: Settings, dev_env: WorkflowEnvironment, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[httpx.AsyncClient]:
    async for client in open_stack(dev_env.client, web_settings, sessionmaker):
        yield client
