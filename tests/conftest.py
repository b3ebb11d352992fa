"""Servers for the whole suite, started here and stopped at the end: nothing is started by hand.

- one embedded PostgreSQL per session; the migrations build a template database once, and every test that
  asks for `database_url` gets its own fresh copy of it (CREATE DATABASE ... TEMPLATE), so tests never see
  each other's rows;
- one Temporal time-skipping test server and one Temporal dev server per session, started lazily, both by
  `tests/environment.py` (`--workflow-environment=host:port` puts a running server in the dev server's place).
"""

import asyncio
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from stack import migrate, postgres
from stack.codec import PayloadKey
from stack.db import create_engine, create_sessionmaker
from stack.secrets import new_secret
from stack.settings import Settings
from stack.temporal import data_converter
from tests.environment import LOCAL, TIME_SKIPPING, temporal_environment
from tests.operator import OPERATOR_HEADERS, OPERATOR_TOKEN
from tests.provider import localstripe  # noqa: F401 - the fixture of a real provider, for every test package

if TYPE_CHECKING:
    from xdist.remote import Producer
    from xdist.scheduler.protocol import Scheduling

    from tests.e2e.processes import Stack

TEMPLATE_DATABASE = "orderflow_template"
UNREACHABLE_TEMPORAL = "127.0.0.1:1"
# One set of server secrets per session: the session's Temporal clients and every test's API and worker share them.
APP_SECRET = new_secret()
PAYLOAD_KEYS = str(PayloadKey.generate("test"))


def secret_settings() -> Settings:
    """Settings with only the session's secrets: enough for a Temporal client's data converter."""
    return Settings(_env_file=None, app_secret=APP_SECRET, payload_keys=PAYLOAD_KEYS)  # type: ignore[call-arg]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[postgres.EmbeddedPostgres]:
    # Not under pytest's tmp_path: pytest prunes old basetemp dirs, which deletes a concurrent run's data dir.
    root = Path(tempfile.mkdtemp(prefix="orderflow-test-pg-"))
    server = postgres.start(root / "data", keep_data=False)
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def template_database(postgres_server: postgres.EmbeddedPostgres) -> str:
    asyncio.run(postgres.create_database(postgres_server.dsn(), TEMPLATE_DATABASE))
    migrate.upgrade(postgres_server.url(TEMPLATE_DATABASE))
    return TEMPLATE_DATABASE


@pytest.fixture
async def database_url(postgres_server: postgres.EmbeddedPostgres, template_database: str) -> AsyncIterator[str]:
    """A fresh, migrated, empty database for this test alone."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    await postgres.create_database(postgres_server.dsn(), name, template=template_database)
    yield postgres_server.url(name)
    await postgres.drop_database(postgres_server.dsn(), name)


@pytest.fixture
async def sessionmaker(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(database_url)
    yield create_sessionmaker(engine)
    await engine.dispose()


@pytest.fixture
def settings(database_url: str) -> Settings:
    """Settings for an API or worker under test; Temporal is unreachable unless a test says otherwise.

    Token mode, as deployed, with one operator token that the `api` clients send. The anti-hoarding caps keep
    their defaults; the bucket of anonymous writes is off, since every test client writes from one address (the
    tests of the bucket turn it on).
    """
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        auth_mode="token",
        operator_tokens=[OPERATOR_TOKEN],
        database_url=database_url,
        temporal_address=UNREACHABLE_TEMPORAL,
        temporal_task_queue=f"test-{uuid.uuid4()}",
        seed_demo_data=False,
        app_secret=APP_SECRET,
        payload_keys=PAYLOAD_KEYS,
        anon_writes_per_minute=0,
    )


def asgi_client(app: FastAPI, *, operator: bool = True) -> httpx.AsyncClient:
    """A client of `app` over in-process ASGI; it presents the operator token unless `operator` is False."""
    headers = OPERATOR_HEADERS if operator else {}
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver", headers=headers)


async def open_api(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with asgi_client(app) as client:
            yield client


async def open_stack(
    client: Client, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[httpx.AsyncClient]:
    """The API over in-process ASGI with a worker built by worker.py's factory, both on `settings`."""
    from worker import create_worker

    async with create_worker(client, settings, sessionmaker):
        async for api in open_api(settings):
            yield api


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The real app (lifespan included) over in-process ASGI, on this test's database."""
    async for client in open_api(settings):
        yield client


# The packages whose tests drive the session's process stack (`process_stack` below).
PROCESS_STACK_PACKAGES = ("tests/e2e/", "tests/browser/")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: "Producer") -> "Scheduling":
    """How `make test` shares the suite between its two pytest-xdist workers.

    Every worker starts the session's servers for itself, so work goes out in groups: a file is one group (its
    module-scoped servers start once, as when the file runs alone), and the e2e and browser packages are one
    group together, so the process stack is started once, by one worker.
    """
    from xdist.scheduler import LoadScopeScheduling

    class ByFileAndStack(LoadScopeScheduling):  # type: ignore[misc]  # xdist's classes are untyped
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return "process stack" if path.startswith(PROCESS_STACK_PACKAGES) else path

        def add_node_collection(self, node: object, collection: Sequence[str]) -> None:
            # xdist tells tests apart by id: of tests sharing one (schemathesis' cases on pytest 9) it runs one.
            shared = sorted({nodeid for nodeid in collection if collection.count(nodeid) > 1})
            if shared:
                raise pytest.UsageError(f"tests share an id, so pytest-xdist would run one of each: {shared}")
            super().add_node_collection(node, collection)

    return ByFileAndStack(config, log)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test its own id: on pytest 9 schemathesis' cases (tests/api/test_fuzz.py) all carry their function's
    id, `...::test_operation`, while their names say the operation (`test_operation[GET /health]`). pytest-xdist
    tells tests apart by id, so the ids are made what pytest would have given a parametrised test."""
    for item in items:
        if item.parent is not None and not item.nodeid.endswith("::" + item.name):
            item._id = item.parent.id.child(item.name)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Here, not in tests/browser: under pytest-xdist only the controller reports, and it loads no sub-conftest."""
    from tests.browser.conftest import MISSING

    if MISSING is not None:
        terminalreporter.write_line(f"!!! {MISSING}", red=True, bold=True)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--workflow-environment",
        default=LOCAL,
        help='the server of `dev_env`: "local" (a dev server started here) or the host:port of a running one',
    )


@pytest.fixture(scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """Temporal's test server: timers are skipped, not waited for."""
    async with temporal_environment(TIME_SKIPPING, data_converter(secret_settings())) as env:
        yield env


@pytest.fixture(scope="session")
async def dev_env(request: pytest.FixtureRequest) -> AsyncIterator[WorkflowEnvironment]:
    """A server with visibility, as deployed: a dev server, or the one `--workflow-environment` names."""
    kind = request.config.getoption("--workflow-environment")
    async with temporal_environment(kind, data_converter(secret_settings())) as env:
        yield env


@pytest.fixture
async def order_settings(settings: Settings, dev_env: WorkflowEnvironment) -> Settings:
    """Settings for the full stack on the session's dev server, with the demo catalog and stock loaded."""
    return settings.model_copy(
        update={"temporal_address": dev_env.client.service_client.config.target_host, "seed_demo_data": True}
    )


@pytest.fixture
async def stack_api(
    order_settings: Settings, dev_env: WorkflowEnvironment, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[httpx.AsyncClient]:
    """The API and a worker built by worker.py's factory, on real PostgreSQL and a real Temporal dev server."""
    async for client in open_stack(dev_env.client, order_settings, sessionmaker):
        yield client


@pytest.fixture(scope="session")
async def process_stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator["Stack"]:
    """The system as separate OS processes (tests/e2e/processes.py), started once for the session.

    The browser journeys and the e2e package both drive it: starting and stopping it costs tens of seconds on
    two cores. Each user calls `ensure_running()` first, so whatever a previous test stopped comes back.
    """
    from tests.e2e.processes import start_stack  # it imports this module's secrets

    stack = await start_stack(tmp_path_factory.mktemp("stack"))
    try:
        yield stack
    finally:
        stack.close()
