"""The codec server (`/codec/encode`, `/codec/decode`): Temporal's remote-codec protocol, for operators only."""

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from stack.settings import Settings
from stack.temporal import data_converter
from tests.conftest import open_api

TOKEN = "codec-test-operator-token"
WEB_UI = "http://localhost:8233"
OPERATOR = {"Authorization": f"Bearer {TOKEN}"}
Json = dict[str, Any]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


ENCRYPTED = {"encoding": b64(b"binary/encrypted")}


@pytest.fixture
async def codec_api(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async for client in open_api(settings.model_copy(update={"auth_mode": "token", "operator_tokens": [TOKEN]})):
        yield client


def json_payload(value: object) -> Json:
    """A payload as Temporal Web sends it: protobuf JSON, bytes in base64."""
    return {"metadata": {"encoding": b64(b"json/plain")}, "data": b64(json.dumps(value).encode())}


async def test_encode_then_decode_round_trips_and_hides_the_data(codec_api: httpx.AsyncClient) -> None:
    body = {"payloads": [json_payload({"customerEmail": "ada@example.com"}), json_payload(42)]}

    encoded = await codec_api.post("/codec/encode", json=body, headers=OPERATOR)
    assert encoded.status_code == 200, encoded.text
    assert "ada@example.com" not in base64.b64decode(encoded.json()["payloads"][0]["data"]).decode(errors="replace")
    assert {base64.b64decode(p["metadata"]["encoding"]) for p in encoded.json()["payloads"]} == {b"binary/encrypted"}

    decoded = await codec_api.post("/codec/decode", json=encoded.json(), headers=OPERATOR)
    assert decoded.status_code == 200, decoded.text
    assert decoded.json() == body


async def test_decodes_what_the_worker_and_api_encode(codec_api: httpx.AsyncClient, settings: Settings) -> None:
    [payload] = await data_converter(settings).encode([{"customerName": "Ada"}])
    sent = {"metadata": {k: b64(v) for k, v in payload.metadata.items()}, "data": b64(payload.data)}

    decoded = await codec_api.post("/codec/decode", json={"payloads": [sent]}, headers=OPERATOR)

    assert decoded.status_code == 200, decoded.text
    [plain] = decoded.json()["payloads"]
    assert json.loads(base64.b64decode(plain["data"])) == {"customerName": "Ada"}


async def test_unencrypted_payloads_come_back_unchanged(codec_api: httpx.AsyncClient) -> None:
    body = {"payloads": [json_payload("plain")]}

    decoded = await codec_api.post("/codec/decode", json=body, headers=OPERATOR)

    assert decoded.json() == body


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}])
@pytest.mark.parametrize("path", ["/codec/encode", "/codec/decode"])
async def test_without_an_operator_token_the_answer_is_401(
    codec_api: httpx.AsyncClient, path: str, headers: dict[str, str]
) -> None:
    response = await codec_api.post(path, json={"payloads": [json_payload(1)]}, headers=headers)

    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"


async def test_open_mode_needs_no_token(settings: Settings) -> None:
    async for api in open_api(settings.model_copy(update={"auth_mode": "open"})):
        response = await api.post("/codec/decode", json={"payloads": [json_payload(1)]})
        assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"metadata": {"encoding": "not base64!"}, "data": ""}, "invalid_payload"),
        ({"metadata": {**ENCRYPTED, "encryption-key-id": b64(b"test")}, "data": b64(b"x" * 40)},
         "undecryptable_payload"),  # the session's key, but not its ciphertext
        ({"metadata": {**ENCRYPTED, "encryption-key-id": b64(b"gone")}, "data": ""}, "undecryptable_payload"),
        ({"metadata": {**ENCRYPTED, "encryption-key-id": b64(b"test")}, "data": ""}, "undecryptable_payload"),
    ],
)  # fmt: skip
async def test_bad_payloads_get_a_400_with_the_error_body(
    codec_api: httpx.AsyncClient, payload: Json, code: str
) -> None:
    response = await codec_api.post("/codec/decode", json={"payloads": [payload]}, headers=OPERATOR)

    assert response.status_code == 400, response.text
    assert response.json()["error"] == code


async def test_temporal_web_passes_the_cors_preflight_for_the_codec_only(codec_api: httpx.AsyncClient) -> None:
    preflight = {
        "Origin": WEB_UI,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type,x-namespace",
    }

    allowed = await codec_api.options("/codec/decode", headers=preflight)
    assert allowed.status_code == 200, allowed.text
    assert allowed.headers["access-control-allow-origin"] == WEB_UI
    assert {"authorization", "content-type", "x-namespace"} <= {
        h.strip().lower() for h in allowed.headers["access-control-allow-headers"].split(",")
    }
    decoded = await codec_api.post(
        "/codec/decode", json={"payloads": []}, headers={**OPERATOR, "Origin": WEB_UI, "X-Namespace": "default"}
    )
    assert decoded.headers["access-control-allow-origin"] == WEB_UI

    other_origin = await codec_api.options("/codec/decode", headers={**preflight, "Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in other_origin.headers
    other_route = await codec_api.options("/api/orders", headers=preflight)
    assert "access-control-allow-origin" not in other_route.headers
