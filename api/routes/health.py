"""Liveness (`/health`, as the seed's) and readiness (`/ready`, which probes PostgreSQL and Temporal)."""

import asyncio
import logging
from collections.abc import Awaitable

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.deps import SessionMaker, Temporal
from api.errors import ErrorBody
from api.request_id import current_request_id
from services.schemas import UtcDateTime, WireModel, utcnow

router = APIRouter(tags=["health"])
log = logging.getLogger(__name__)

PROBE_TIMEOUT_SECONDS = 2.0


class HealthDto(WireModel):
    service: str
    status: str
    timestamp: UtcDateTime


class ReadinessDto(WireModel):
    status: str
    checks: dict[str, str]


class NotReadyDto(ErrorBody):
    """The 503 of `/ready`: the usual error body, plus the state of each dependency."""

    checks: dict[str, str]


@router.get("/health")
async def health() -> HealthDto:
    """Answers 200 while the process serves requests; checks nothing else (as the seed)."""
    return HealthDto(service="Orderflow", status="OK", timestamp=utcnow())


async def _probe_database(sessionmaker: SessionMaker) -> None:
    async with sessionmaker() as session:
        await session.execute(text("SELECT 1"))


async def _probe(name: str, probe: Awaitable[object]) -> tuple[str, str]:
    try:
        await asyncio.wait_for(probe, PROBE_TIMEOUT_SECONDS)
    except TimeoutError:
        return name, f"unreachable: no answer within {PROBE_TIMEOUT_SECONDS:g}s"
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready", reported by name
        # what failed goes to the log; the answer says only which dependency is down
        log.warning("readiness: %s is unreachable (request_id=%s): %r", name, current_request_id(), exc)
        return name, "unreachable"
    return name, "ok"


@router.get(
    "/ready",
    response_model=ReadinessDto,
    responses={503: {"model": NotReadyDto, "description": "A dependency is down"}},
)
async def ready(sessionmaker: SessionMaker, temporal: Temporal) -> ReadinessDto | JSONResponse:
    """200 when PostgreSQL and Temporal both answer; otherwise 503 naming what is down."""
    checks = dict(
        await asyncio.gather(
            _probe("database", _probe_database(sessionmaker)),
            _probe("temporal", temporal.service_client.check_health()),
        )
    )
    down = [name for name, state in checks.items() if state != "ok"]
    if down:
        message = "; ".join(f"{name} {checks[name]}" for name in down)
        body = NotReadyDto(error="not_ready", message=message, checks=checks)
        return JSONResponse(status_code=503, content=body.model_dump(mode="json", by_alias=True))
    return ReadinessDto(status="ready", checks=checks)
