"""Customer data stays out of Temporal's clear text: what `temporal workflow show/describe` print for an order
holds neither the customer's email nor their name, while an operator decodes it through the API's codec server.
"""

import asyncio
import base64
import binascii
import contextlib
import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from api.customers import customer_ref
from stack.temporal import temporal_cli
from tests.e2e.processes import Stack

pytestmark = pytest.mark.e2e

ARM_BLK = "9572fb9d-f059-401e-9041-7fc75f8cb414"


async def cli(stack: Stack, *args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        temporal_cli(), *args, "--address", stack.temporal_address, "--namespace", "default",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return out.decode()


def texts(value: Any) -> Iterator[str]:
    """Every string in a JSON document, and for every `data` field (a payload's bytes) its base64 decoding too:
    an unencrypted JSON payload hides nothing behind its base64."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "data" and isinstance(item, str):
                with contextlib.suppress(binascii.Error):
                    yield base64.b64decode(item).decode(errors="replace")
            yield from texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from texts(item)
    elif isinstance(value, str):
        yield value


def started_input(history: Any) -> dict[str, Any]:
    started = history["events"][0]["workflowExecutionStartedEventAttributes"]
    payload: dict[str, Any] = started["input"]["payloads"][0]
    return payload


async def test_the_customer_is_nowhere_in_temporal_and_decodes_with_the_operator_token_only(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    name, email = f"Privacy {uuid.uuid4().hex[:8]}", f"Privacy.{uuid.uuid4().hex[:8]}@Example.com"
    response = await http.post(
        "/api/orders",
        json={"customerName": name, "customerEmail": email, "items": [{"productVariantId": ARM_BLK, "quantity": 1}]},
    )
    assert response.status_code == 201, response.text
    workflow = f"order-{response.json()['id']}"

    shown = await cli(stack, "workflow", "show", "--workflow-id", workflow, "--output", "json")
    outputs = [
        shown,
        await cli(stack, "workflow", "show", "--workflow-id", workflow),
        await cli(stack, "workflow", "describe", "--workflow-id", workflow),
        await cli(stack, "workflow", "describe", "--workflow-id", workflow, "--output", "json"),
    ]
    for output in outputs:
        for text in [output, *(texts(json.loads(output)) if output.startswith("{") else [])]:
            for secret in (email, email.lower(), name):
                assert secret not in text
    described = json.loads(outputs[-1])
    ref = described["workflowExecutionInfo"]["searchAttributes"]["indexedFields"]["CustomerRef"]["data"]
    assert json.loads(base64.b64decode(ref)) == customer_ref(stack.settings(), email)

    # the operator reads the order through the codec server: directly, and as the CLI (or Temporal Web) does
    token = stack.env()["OPERATOR_TOKENS"].split(",")[0]
    body = {"payloads": [started_input(json.loads(shown))]}
    async with httpx.AsyncClient(base_url=stack.base_url) as anonymous:  # `http` sends the operator token
        assert (await anonymous.post("/codec/decode", json=body)).status_code == 401
        refused = await anonymous.post("/codec/decode", json=body, headers={"Authorization": "Bearer not-the-token"})
    assert refused.status_code == 401 and refused.json()["error"] == "unauthorized"
    decoded = await http.post("/codec/decode", json=body, headers={"Authorization": f"Bearer {token}"})
    assert decoded.status_code == 200, decoded.text
    placed = json.loads(base64.b64decode(decoded.json()["payloads"][0]["data"]))
    assert (placed["customerName"], placed["customerEmail"]) == (name, email)

    through_cli = await cli(
        stack, "workflow", "show", "--workflow-id", workflow, "--output", "json",
        "--codec-endpoint", f"{stack.base_url}/codec", "--codec-auth", f"Bearer {token}",
    )  # fmt: skip
    assert email in base64.b64decode(started_input(json.loads(through_cli))["data"]).decode()
