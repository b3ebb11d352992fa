"""`Idempotency-Key` claims (the IETF draft, as Stripe applies it), without the HTTP around them.

A key belongs to one route (its `scope`, e.g. `POST /api/orders`) and is bound to the fingerprint of the request
that first used it: the request's path and its canonical JSON body. What a key derives — an order, payment or
shipment id, a Temporal update id — comes from a keyed hash with a server secret (`APP_SECRET`, the same on every
replica and across restarts), so nobody else can compute it from the key, and keys of different routes can never
name the same thing. The claims themselves are kept by `services.ordering.idempotency.IdempotencyStore`.
"""

import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TypeVar
from uuid import UUID

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.errors import NotFoundError
from services.ordering.idempotency import IdempotencyStore
from stack.secrets import derive_key
from stack.settings import Settings


@dataclass(frozen=True)
class KeyedRequest:
    """A request that carries an `Idempotency-Key`, with everything derived from the key."""

    scope: str  # the route: method and path template
    path: str  # the request's own path (its ids are part of the fingerprint)
    key_digest: bytes
    _secret: bytes
    _key: str

    def fingerprint(self, body: BaseModel | None) -> bytes:
        """SHA-256 of the path and the body as canonical JSON (sorted keys; absent, null and `{}` alike)."""
        fields = body.model_dump(mode="json", by_alias=True, exclude_none=True) if body is not None else {}
        canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(f"{self.path}\n{canonical}".encode()).digest()

    def derived_id(self, attempt: int = 0) -> UUID:
        """The id of what the key creates; `attempt` > 0 after earlier attempts were given up."""
        return UUID(bytes=self._mac("id", str(attempt))[:16], version=4)

    def update_id(self) -> str:
        """The Temporal update id of a keyed action: a retry is deduplicated by Temporal, even after a 503."""
        return "idempotency-" + self._mac("update", self.path).hex()[:40]

    def _mac(self, purpose: str, *parts: str) -> bytes:
        message = "\n".join((purpose, self.scope, self._key, *parts)).encode()
        return hmac.new(self._secret, message, hashlib.sha256).digest()


def keyed_request(settings: Settings, scope: str, path: str, key: str) -> KeyedRequest:
    secret = derive_key(settings, "idempotency")
    digest = hmac.new(secret, f"key\n{scope}\n{key}".encode(), hashlib.sha256).digest()
    return KeyedRequest(scope=scope, path=path, key_digest=digest, _secret=secret, _key=key)


PLACE_ORDER_SCOPE = "POST /api/orders"


def first_order_id(settings: Settings, key: str) -> UUID:
    """The id of the order `POST /api/orders` with `Idempotency-Key: key` places (unless placing is given up)."""
    return keyed_request(settings, PLACE_ORDER_SCOPE, "/api/orders", key).derived_id()


Made = TypeVar("Made")


async def create_once(
    session: AsyncSession,
    keyed: KeyedRequest | None,
    body: BaseModel,
    made: Callable[[UUID], Awaitable[Made | None]],
    create: Callable[[UUID | None], Awaitable[Made]],
) -> Made:
    """What `create` makes, under the key's id; a retry of the key's first request gets what that one made (422
    if the key was used for another request). Without a key, `create(None)`: the store picks the id."""
    if keyed is None:
        return await create(None)
    claim = await IdempotencyStore(session).claim(
        keyed.scope, keyed.key_digest, keyed.fingerprint(body), keyed.derived_id()
    )
    if not claim.first_use and claim.resource_id is not None:
        existing = await made(claim.resource_id)
        if existing is not None:
            return existing
    return await create(claim.resource_id)


@dataclass(frozen=True)
class ActionKey:
    """A keyed action's claim: the Temporal update id its attempts share, whether this is a retry, and whether an
    earlier attempt was marked done (`action_done`): its outcome stands even once Temporal's run has continued as
    new and no longer knows the update id."""

    update_id: str
    retry: bool
    done: bool = False


@asynccontextmanager
async def claim_action(
    sessionmaker: async_sessionmaker[AsyncSession], keyed: KeyedRequest | None, body: BaseModel | None
) -> AsyncIterator[ActionKey | None]:
    """Bind the key of an action to its request (422 if it was used for another one), in its own unit of work.

    The claim is made before the action's resource is looked up (a retry must be recognised before acting), and
    forgotten if the resource turns out not to exist: a key that named nothing did nothing, so keyed requests on
    made-up ids store nothing.
    """
    if keyed is None:
        yield None
        return
    fingerprint = keyed.fingerprint(body)
    async with sessionmaker.begin() as session:
        claim = await IdempotencyStore(session).claim(keyed.scope, keyed.key_digest, fingerprint)
    try:
        yield ActionKey(update_id=keyed.update_id(), retry=not claim.first_use, done=claim.completed)
    except NotFoundError:
        async with sessionmaker.begin() as session:
            await IdempotencyStore(session).forget(keyed.scope, keyed.key_digest, fingerprint)
        raise


async def action_done(sessionmaker: async_sessionmaker[AsyncSession], keyed: KeyedRequest | None) -> None:
    """Mark the keyed action done: a retry answers from this, whatever Temporal still remembers of the update."""
    if keyed is not None:
        async with sessionmaker.begin() as session:
            await IdempotencyStore(session).complete(keyed.scope, keyed.key_digest)


def update_id_of(key: ActionKey | None) -> str | None:
    return key.update_id if key is not None else None
