"""The one way the tests get a Temporal server, like sdk-python's `env` fixture: time-skipping, local or an address.

- "time-skipping": Temporal's test server, whose clock jumps to the next timer when every workflow waits
  (`tests/workflows`, and `python -m tests.workflows.record_histories`);
- "local": a dev server started here, with visibility (list and filter runs) like a real cluster;
- anything else is the host:port of a running server (`pytest --workflow-environment=127.0.0.1:7233`).

Every client gets the data converter it is given (the suite's: payloads encrypted with the session's keys), and
the namespace the search attributes it filters on.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.testing import WorkflowEnvironment

from stack.temporal import ensure_search_attributes, temporal_cli, temporal_test_server
from workflows.search_attributes import ALL_KEYS

TIME_SKIPPING = "time-skipping"
LOCAL = "local"


@asynccontextmanager
async def temporal_environment(
    kind: str, converter: DataConverter = pydantic_data_converter
) -> AsyncIterator[WorkflowEnvironment]:
    """A Temporal environment of `kind` ("time-skipping", "local" or host:port), shut down on exit."""
    if kind == TIME_SKIPPING:
        env = await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=temporal_test_server(), data_converter=converter
        )
    elif kind == LOCAL:
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=temporal_cli(), data_converter=converter, search_attributes=ALL_KEYS
        )
    else:
        env = WorkflowEnvironment.from_client(await Client.connect(kind, data_converter=converter))
    async with env:
        await ensure_search_attributes(env.client)
        yield env
