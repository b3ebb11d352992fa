"""Bounded requests: a body over `MAX_REQUEST_BYTES` is answered 413 `request_too_large` before it is parsed,
whether it declares its length or streams in chunks."""

import json
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from stack.settings import Settings
from tests.conftest import open_api

LIMIT = 1000
JSON = {"content-type": "application/json"}


@pytest.fixture
async def small_api(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    settings.max_request_bytes = LIMIT
    async for client in open_api(settings):
        yield client


def _body(size: int) -> bytes:
    """A JSON cart line of exactly `size` bytes (padded with spaces), valid apart from naming no cart."""
    line = json.dumps({"productVariantId": str(uuid.uuid4()), "quantity": 1}).encode()
    return line + b" " * (size - len(line))


async def _chunks(body: bytes, size: int = 100) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def _assert_too_large(response: httpx.Response) -> None:
    assert response.status_code == 413, response.text
    assert response.json() == {
        "error": "request_too_large",
        "message": f"The request body exceeds the limit of {LIMIT} bytes",
    }


def test_the_default_limit_is_one_mebibyte() -> None:
    assert Settings(_env_file=None).max_request_bytes == 2**20


async def test_a_body_at_the_limit_is_parsed(small_api: httpx.AsyncClient) -> None:
    for content in (_body(LIMIT), _chunks(_body(LIMIT))):
        response = await small_api.post(f"/api/carts/{uuid.uuid4()}/items", content=content, headers=JSON)
        assert response.status_code == 404, response.text  # parsed and validated: the cart does not exist
        assert response.json()["error"] == "cart_not_found"


async def test_a_declared_length_over_the_limit_is_refused(small_api: httpx.AsyncClient) -> None:
    response = await small_api.post(f"/api/carts/{uuid.uuid4()}/items", content=_body(LIMIT + 1), headers=JSON)
    assert response.request.headers["content-length"] == str(LIMIT + 1)
    _assert_too_large(response)


async def test_a_chunked_body_over_the_limit_is_refused(small_api: httpx.AsyncClient) -> None:
    response = await small_api.post(f"/api/carts/{uuid.uuid4()}/items", content=_chunks(_body(LIMIT + 1)), headers=JSON)
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    _assert_too_large(response)


async def test_the_limit_comes_before_parsing(small_api: httpx.AsyncClient) -> None:
    """A malformed body over the limit is not parsed (which would answer 400 malformed_json)."""
    malformed = b"{" * (LIMIT + 1)
    for content in (malformed, _chunks(malformed)):
        _assert_too_large(await small_api.post("/api/orders", content=content, headers=JSON))
