"""`--workflow-environment=host:port`: the tests' environment helper on a server that runs already."""

from temporalio.testing import WorkflowEnvironment

from stack.temporal import ensure_search_attributes
from tests.environment import temporal_environment


async def test_an_address_uses_the_running_server_and_leaves_it_running(dev_env: WorkflowEnvironment) -> None:
    address = dev_env.client.service_client.config.target_host
    async with temporal_environment(address) as env:
        assert not env.supports_time_skipping
        assert env.client.service_client.config.target_host == address
        assert await ensure_search_attributes(env.client) == []  # registered on entry
    # leaving the environment did not stop the server it was given
    assert await ensure_search_attributes(dev_env.client) == []
