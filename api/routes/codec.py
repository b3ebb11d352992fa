"""The codec server: Temporal Web and the `temporal` CLI send payloads here to show them decoded.

The protocol (Temporal's remote codec): `POST {endpoint}/encode` and `POST {endpoint}/decode`, each taking and
answering a `Payloads` message in protobuf JSON, `{"payloads": [{"metadata": {"encoding": "<base64>"},
"data": "<base64>"}]}`; Temporal Web adds `X-Namespace` and, when configured to, `Authorization`. Decoded payloads
hold customer data, so in token mode only operators may call it: with the operator token, or from Temporal Web
with the console's session (`temporal_web_session`). Temporal Web calls it from its own origin
(`TEMPORAL_WEB_ORIGINS`): `web_ui_cors` answers the browser's CORS for these routes only, credentials included.
"""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request
from google.protobuf import json_format
from pydantic import BaseModel, Field
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp
from temporalio.api.common.v1 import Payloads

from api.auth import OperatorGuard, is_operator, unauthorized
from api.deps import SessionMaker
from api.errors import responses
from api.web.ops import session_revoked
from api.web.session import CODEC_COOKIE, CODEC_PATH, Session, console_key, operator_session
from services.errors import DomainError
from stack.codec import EncryptionCodec, PayloadDecryptionError

PREFIX = CODEC_PATH  # where the console's session cookie for Temporal Web goes


def _web_session(request: Request) -> Session | None:
    settings = request.app.state.settings
    if request.headers.get("origin") not in settings.temporal_web_origins:
        return None
    try:
        key = console_key(settings)
    except RuntimeError:  # no APP_SECRET: no console, so no session either
        return None
    return operator_session(key, settings, request.cookies.get(CODEC_COOKIE), datetime.now(UTC))


def temporal_web_session(request: Request) -> bool:
    """Whether Temporal Web calls with the session of an operator logged in to the console.

    Temporal Web's "Include cross-origin credentials" makes the browser send the console's `CODEC_COOKIE` with
    its codec calls. The cookie counts only from Temporal Web's own origins: a page of any other origin that
    gets the browser to send it is refused here, as CORS already keeps it from reading the answer. The session
    must be one the console still admits (its operator token still configured); `_not_logged_out` then asks the
    database whether it was revoked at logout.
    """
    return _web_session(request) is not None


async def _not_logged_out(request: Request, sessionmaker: SessionMaker) -> None:
    """Runs after the guard: a call it admitted by the console's session is refused if that session was ended."""
    if is_operator(request.app.state.settings, request.headers.get("authorization")):
        return
    session = _web_session(request)
    if session is not None and await session_revoked(sessionmaker, session):
        raise unauthorized()


router = APIRouter(
    prefix=PREFIX,
    tags=["codec"],
    dependencies=[Depends(OperatorGuard(also=temporal_web_session)), Depends(_not_logged_out)],
)


class CodecPayload(BaseModel):
    """One `temporal.api.common.v1.Payload` in protobuf JSON: bytes as base64."""

    metadata: dict[str, str] = Field(default_factory=dict, max_length=64)
    data: str = ""


class CodecPayloads(BaseModel):
    payloads: list[CodecPayload] = Field(default_factory=list, max_length=1000)


class UndecodablePayload(DomainError):
    status_code = 400


async def _codec(request: Request) -> EncryptionCodec:
    """The codec of the API's own Temporal client: the server decodes exactly what the API encodes."""
    codec = request.app.state.temporal.data_converter.payload_codec
    assert isinstance(codec, EncryptionCodec)
    return codec


Codec = Annotated[EncryptionCodec, Depends(_codec)]


def _to_proto(body: CodecPayloads) -> Payloads:
    try:
        return json_format.ParseDict(body.model_dump(), Payloads())
    except json_format.ParseError as error:
        raise UndecodablePayload("invalid_payload", "Payload metadata and data must be base64") from error


def _to_json(payloads: Payloads) -> CodecPayloads:
    return CodecPayloads.model_validate(json_format.MessageToDict(payloads, preserving_proto_field_name=True))


@router.post("/encode", responses=responses(400))
async def encode(body: CodecPayloads, codec: Codec) -> CodecPayloads:
    """Encrypt payloads with the current key (what the worker and the API send to Temporal)."""
    return _to_json(Payloads(payloads=await codec.encode(_to_proto(body).payloads)))


@router.post("/decode", responses=responses(400))
async def decode(body: CodecPayloads, codec: Codec) -> CodecPayloads:
    """Decrypt payloads; payloads that were never encrypted come back unchanged."""
    try:
        decoded = await codec.decode(_to_proto(body).payloads)
    except PayloadDecryptionError as error:
        raise UndecodablePayload("undecryptable_payload", str(error)) from error
    return _to_json(Payloads(payloads=decoded))


def web_ui_cors(app: ASGIApp, origins: list[str]) -> CORSMiddleware:
    """CORS for Temporal Web's origin, around `app`; `api.edge` puts it around the codec routes only."""
    return CORSMiddleware(
        app,
        allow_origins=origins,
        allow_methods=["POST"],
        allow_headers=["Authorization", "Content-Type", "X-Namespace"],
        allow_credentials=True,  # Temporal Web's "Include cross-origin credentials": the console's session
    )


def install(app: FastAPI) -> None:
    """The codec routes (their CORS is `web_ui_cors`)."""
    app.include_router(router)
