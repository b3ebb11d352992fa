"""Operator routes and request bounds on the served API (uvicorn as its own process), in token mode."""

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.e2e.conftest import HTTP_TIMEOUT
from tests.e2e.processes import Stack

pytestmark = pytest.mark.e2e

MIB = 2**20


async def test_an_operator_route_needs_the_token_and_a_customers_does_not(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=HTTP_TIMEOUT) as anonymous:
        refused = await anonymous.get("/api/orders")
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == "Bearer"
        assert refused.json()["error"] == "unauthorized"
        assert (await anonymous.get("/api/products")).status_code == 200
    async with stack.http_client(HTTP_TIMEOUT) as operator:
        assert (await operator.get("/api/orders")).status_code == 200


async def _chunks(size: int, chunk: int = 64 * 1024) -> AsyncIterator[bytes]:
    sent = 0
    while sent < size:
        yield b" " * min(chunk, size - sent)
        sent += chunk


async def test_bodies_over_a_mebibyte_are_refused_with_or_without_a_length(stack: Stack) -> None:
    json = {"content-type": "application/json"}
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=HTTP_TIMEOUT) as client:
        for content in (b" " * (MIB + 1), _chunks(MIB + 1)):
            response = await client.post("/api/orders", content=content, headers=json)
            assert response.status_code == 413, response.text
            assert response.json()["error"] == "request_too_large"
