"""The e2e tests' stack: the shared launcher (tooling/processes.py) with the tests' secrets and operator token.

The drills SIGKILL and start the worker and the API, restart PostgreSQL and the dev server (persisted, so every
run survives it); `Stack` is the launcher's.
"""

from pathlib import Path

from tests.conftest import APP_SECRET, PAYLOAD_KEYS
from tests.operator import OPERATOR_TOKEN
from tooling.processes import Stack
from tooling.processes import start_stack as start_processes

__all__ = ["Stack", "start_stack"]

# Orders of the drills must not expire while a drill runs; expiry is driven explicitly over HTTP.
PAYMENT_TIMEOUT_SECONDS = 3600


async def start_stack(root: Path) -> Stack:
    return await start_processes(
        root,
        app_secret=APP_SECRET,
        payload_keys=PAYLOAD_KEYS,
        operator_token=OPERATOR_TOKEN,
        payment_timeout_seconds=PAYMENT_TIMEOUT_SECONDS,
        database="orderflow_e2e",
    )
