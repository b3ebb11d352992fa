"""Idempotency keys bound to their request (the IETF `Idempotency-Key` draft, as Stripe applies it).

A key is claimed with the fingerprint of the request that first uses it; the same key with another request is
refused (`idempotency_key_reused`, 422) and learns nothing of the first. Keys are unique per route (`scope`).
Only a keyed digest of each key is stored. The claim is a unit of work of its own or part of the caller's, as the
route needs: a claim whose unit of work rolls back (the request was refused) leaves the key free.
"""

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import delete, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.errors import IdempotencyKeyReusedError
from services.ordering.models import IdempotencyKey
from services.schemas import utcnow


@dataclass(frozen=True)
class KeyClaim:
    """A key as claimed: what it created (`resource_id`), whether this claim was its first use, and whether its
    request's work was marked done (`complete`)."""

    resource_id: UUID | None
    attempt: int
    first_use: bool
    completed: bool = False


class IdempotencyStore:
    """Claims and follows idempotency keys inside the caller's unit of work; never commits."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def claim(
        self, scope: str, key_digest: bytes, fingerprint: bytes, resource_id: UUID | None = None
    ) -> KeyClaim:
        """Bind the key to `fingerprint` (and `resource_id`) on first use; refuse it for another fingerprint.

        Concurrent first uses of one key wait for each other on the primary key: one inserts, the others see its
        row once it commits (or insert their own if it rolled back).
        """
        inserted = await self._session.scalar(
            insert(IdempotencyKey)
            .values(
                scope=scope,
                key_digest=key_digest,
                fingerprint=fingerprint,
                resource_id=resource_id,
                attempt=0,
                created_at=utcnow(),
            )
            .on_conflict_do_nothing()
            .returning(IdempotencyKey.attempt)
        )
        if inserted is not None:
            return KeyClaim(resource_id=resource_id, attempt=0, first_use=True)
        row = (
            await self._session.execute(
                select(
                    IdempotencyKey.fingerprint,
                    IdempotencyKey.resource_id,
                    IdempotencyKey.attempt,
                    IdempotencyKey.completed_at,
                ).where(IdempotencyKey.scope == scope, IdempotencyKey.key_digest == key_digest)
            )
        ).one()
        if row.fingerprint != fingerprint:
            raise IdempotencyKeyReusedError()
        return KeyClaim(
            resource_id=row.resource_id,
            attempt=row.attempt,
            first_use=False,
            completed=row.completed_at is not None,
        )

    async def replace_resource(
        self, scope: str, key_digest: bytes, given_up: UUID, replacement: UUID, attempt: int
    ) -> UUID:
        """After the resource `given_up` failed for a transient reason, let the key make `replacement` instead.

        A conditional update: of concurrent callers that saw the same failure, one replaces it and every one
        gets the key's resource as it is afterwards.
        """
        await self._session.execute(
            update(IdempotencyKey)
            .where(
                IdempotencyKey.scope == scope,
                IdempotencyKey.key_digest == key_digest,
                IdempotencyKey.resource_id == given_up,
            )
            .values(resource_id=replacement, attempt=attempt)
        )
        current = await self._session.scalar(
            select(IdempotencyKey.resource_id).where(
                IdempotencyKey.scope == scope, IdempotencyKey.key_digest == key_digest
            )
        )
        assert current is not None
        return current

    async def complete(self, scope: str, key_digest: bytes, at: datetime | None = None) -> bool:
        """Mark the key's follow-up work done; True only for the one call that did (the key's row is locked)."""
        done = await self._session.scalar(
            update(IdempotencyKey)
            .where(
                IdempotencyKey.scope == scope,
                IdempotencyKey.key_digest == key_digest,
                IdempotencyKey.completed_at.is_(None),
            )
            .values(completed_at=at or utcnow())
            .returning(IdempotencyKey.scope)
        )
        return done is not None

    async def forget(self, scope: str, key_digest: bytes, fingerprint: bytes) -> None:
        """Drop the key's claim by the request it is bound to (its request named nothing that exists)."""
        await self._session.execute(
            delete(IdempotencyKey).where(
                IdempotencyKey.scope == scope,
                IdempotencyKey.key_digest == key_digest,
                IdempotencyKey.fingerprint == fingerprint,
            )
        )

    async def prune(self, before: datetime, limit: int) -> int:
        """Delete at most `limit` keys first used before `before`; how many were deleted.

        Keys a request is claiming right now (their row locked) are skipped, not waited for: the next batch gets
        them once they are free.
        """
        key = tuple_(IdempotencyKey.scope, IdempotencyKey.key_digest)
        old = (
            select(IdempotencyKey.scope, IdempotencyKey.key_digest)
            .where(IdempotencyKey.created_at < before)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        deleted = await self._session.execute(
            delete(IdempotencyKey).where(key.in_(old)).returning(IdempotencyKey.scope)
        )
        return len(deleted.all())
