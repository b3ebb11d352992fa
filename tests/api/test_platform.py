"""Health, readiness and the error body shape, against a real database and real Temporal servers."""

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from services.schemas import WireModel
from stack.settings import Settings
from tests.conftest import open_api


async def test_health_answers_ok(api: httpx.AsyncClient) -> None:
    response = await api.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "OK"
    assert body["timestamp"].endswith("+00:00")


async def test_ready_when_database_and_temporal_answer(settings: Settings, dev_env: WorkflowEnvironment) -> None:
    settings.temporal_address = dev_env.client.service_client.config.target_host
    async for api in open_api(settings):
        response = await api.get("/ready")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "temporal": "ok"}}


async def test_ready_is_503_naming_temporal_when_it_is_unreachable(api: httpx.AsyncClient) -> None:
    response = await api.get("/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["error"] == "not_ready"
    assert "temporal" in body["message"]
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["temporal"] != "ok"


async def test_ready_is_503_naming_the_database_when_it_is_unreachable(settings: Settings) -> None:
    settings.database_url = "postgresql+asyncpg://postgres@/nowhere?host=/nonexistent-socket-dir"
    async for api in open_api(settings):
        response = await api.get("/ready")
    assert response.status_code == 503
    assert response.json()["checks"]["database"].startswith("unreachable")


class _Echo(WireModel):
    quantity: int = 0


_probe_router = APIRouter()


@_probe_router.post("/api/echo")
async def _echo(body: _Echo) -> _Echo:
    return body


@pytest.fixture
async def echo_api(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    app.include_router(_probe_router)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            yield client


@pytest.mark.parametrize(
    ("content", "headers", "status", "error"),
    [
        (b"{not json", {"content-type": "application/json"}, 400, "malformed_json"),
        (b'{"quantity": "many"}', {"content-type": "application/json"}, 400, "invalid_request"),
        (b'{"quantity": 1.5}', {"content-type": "application/json"}, 400, "invalid_request"),
        (b"quantity=1", {"content-type": "text/plain"}, 415, "unsupported_media_type"),
        (b"", {}, 400, "body_required"),
    ],
)
async def test_bad_requests_get_400_family_with_the_json_error_shape(
    echo_api: httpx.AsyncClient, content: bytes, headers: dict[str, str], status: int, error: str
) -> None:
    response = await echo_api.post("/api/echo", content=content, headers=headers)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error
    assert isinstance(body["message"], str) and body["message"]


async def test_numbers_sent_as_strings_bind_and_trailing_slash_needs_no_redirect(
    echo_api: httpx.AsyncClient,
) -> None:
    response = await echo_api.post("/api/echo/", json={"quantity": "2"})
    assert response.status_code == 200
    assert response.json() == {"quantity": 2}


async def test_unknown_route_and_wrong_method_are_json(api: httpx.AsyncClient) -> None:
    missing = await api.get("/api/nothing-here")
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"
    wrong = await api.delete("/health")
    assert wrong.status_code == 405
    assert wrong.json()["error"] == "method_not_allowed"


async def test_json_answers_and_json_errors_name_utf8(api: httpx.AsyncClient) -> None:
    for response in (await api.get("/health"), await api.get("/api/nothing-here"), await api.delete("/health")):
        assert response.headers["content-type"] == "application/json; charset=utf-8", response.request.url
    assert (await api.get("/metrics")).headers["content-type"].startswith("text/plain")  # not JSON: untouched


async def test_cors_preflight_allows_the_frontend_origin(api: httpx.AsyncClient) -> None:
    response = await api.options(
        "/api/carts",
        headers={
            "origin": "http://localhost:4200",
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "http://localhost:4200"


async def test_a_database_outage_is_503_not_500(settings: Settings) -> None:
    settings.database_url = "postgresql+asyncpg://postgres@/nowhere?host=/nonexistent-socket-dir"
    async for api in open_api(settings):
        response = await api.get("/api/brands")
    assert response.status_code == 503, response.text
    assert response.json()["error"] in {"database_unavailable", "dependency_unavailable"}
