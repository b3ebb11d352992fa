"""The codec server (`/codec/encode`, `/codec/decode`): Temporal's remote-codec protocol, for operators only."""

import base64
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from api.web.session import CODEC_COOKIE, console_key, issue, token_fingerprint
from stack.settings import Settings
from stack.temporal import data_converter
from tests.conftest import open_api

TOKEN = "codec-test-operator-token-of-32-characters"
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


# --- Temporal Web with the console's session ----------------------------------------------------------------


@pytest.fixture
async def browser(codec_api: httpx.AsyncClient) -> httpx.AsyncClient:
    """The API as a browser reaches it: no operator token, only the cookies the console sets."""
    codec_api.headers.pop("Authorization")
    return codec_api


async def log_in_to_the_console(browser: httpx.AsyncClient) -> httpx.Response:
    form = await browser.get("/ops/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf is not None
    logged_in = await browser.post("/ops/login", data={"token": TOKEN, "csrf": csrf.group(1)})
    assert logged_in.status_code == 303, logged_in.text
    return logged_in


def from_web_ui(origin: str = WEB_UI) -> dict[str, str]:
    """The headers of Temporal Web's codec call with "Include cross-origin credentials" on."""
    return {"Origin": origin, "X-Namespace": "default"}


async def test_the_console_login_sets_a_strict_httponly_session_cookie_for_the_codec_path_only(
    browser: httpx.AsyncClient,
) -> None:
    logged_in = await log_in_to_the_console(browser)

    [codec_cookie] = [c for c in logged_in.headers.get_list("set-cookie") if c.startswith(f"{CODEC_COOKIE}=")]
    attributes = {part.strip().split("=")[0].lower(): part.strip() for part in codec_cookie.split(";")}
    assert attributes["path"] == "Path=/codec"
    assert "httponly" in attributes and attributes["samesite"].lower() == "samesite=strict"
    assert "max-age" in attributes


async def test_temporal_web_decodes_with_the_console_session_and_no_token(browser: httpx.AsyncClient) -> None:
    body = {"payloads": [json_payload({"customerEmail": "ada@example.com"})]}
    assert (await browser.post("/codec/decode", json=body, headers=from_web_ui())).status_code == 401

    await log_in_to_the_console(browser)
    encoded = await browser.post("/codec/encode", json=body, headers=from_web_ui())
    decoded = await browser.post("/codec/decode", json=encoded.json(), headers=from_web_ui())

    assert encoded.status_code == 200, encoded.text
    assert decoded.status_code == 200, decoded.text
    assert decoded.json() == body
    assert decoded.headers["access-control-allow-origin"] == WEB_UI
    assert decoded.headers["access-control-allow-credentials"] == "true"


@pytest.mark.parametrize(
    "origin",
    [None, "http://evil.example", "http://127.0.0.1:9999", "null"],
    ids=["no origin", "another site", "another port of the same host", "opaque origin"],
)
async def test_the_session_counts_only_from_temporal_webs_origins(
    browser: httpx.AsyncClient, origin: str | None
) -> None:
    await log_in_to_the_console(browser)
    headers = from_web_ui(origin) if origin else {}

    response = await browser.post("/codec/decode", json={"payloads": [json_payload(1)]}, headers=headers)

    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert "access-control-allow-origin" not in response.headers


async def test_a_forged_or_expired_session_is_refused(browser: httpx.AsyncClient, settings: Settings) -> None:
    key = console_key(settings)
    expired = issue(key, datetime.now(UTC) - timedelta(days=1), timedelta(hours=1), token_fingerprint(key, TOKEN))
    forged = issue(b"another key" * 3, datetime.now(UTC), timedelta(hours=1), token_fingerprint(key, TOKEN))
    for value in (expired, forged, "v2.9999999999.nonce.subject.mac"):
        browser.cookies.set(CODEC_COOKIE, value, path="/codec")
        response = await browser.post("/codec/decode", json={"payloads": []}, headers=from_web_ui())
        assert response.status_code == 401, value


async def test_after_logout_temporal_web_decodes_no_more(browser: httpx.AsyncClient) -> None:
    await log_in_to_the_console(browser)
    page = await browser.get("/ops")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None

    await browser.post("/ops/logout", data={"csrf": csrf.group(1)})

    assert CODEC_COOKIE not in browser.cookies
    response = await browser.post("/codec/decode", json={"payloads": []}, headers=from_web_ui())
    assert response.status_code == 401


async def test_a_malformed_body_with_the_session_is_a_400_not_a_401(browser: httpx.AsyncClient) -> None:
    await log_in_to_the_console(browser)
    headers = {**from_web_ui(), "Content-Type": "application/json"}

    without_origin = await browser.post("/codec/decode", content=b"{", headers={"Content-Type": "application/json"})
    with_session = await browser.post("/codec/decode", content=b"{", headers=headers)

    assert without_origin.status_code == 401
    assert with_session.status_code == 400 and with_session.json()["error"] == "malformed_json"


async def test_the_preflight_allows_credentials_for_temporal_webs_exact_origin_only(
    codec_api: httpx.AsyncClient,
) -> None:
    preflight = {
        "Origin": WEB_UI,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-namespace",
    }

    allowed = await codec_api.options("/codec/decode", headers=preflight)
    refused = await codec_api.options("/codec/decode", headers={**preflight, "Origin": "http://evil.example"})

    assert allowed.status_code == 200, allowed.text
    assert allowed.headers["access-control-allow-origin"] == WEB_UI  # never "*": credentials need the origin
    assert allowed.headers["access-control-allow-credentials"] == "true"
    assert "access-control-allow-origin" not in refused.headers
