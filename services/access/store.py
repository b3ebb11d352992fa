"""The access context's store: which console sessions were revoked."""

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.access.models import RevokedSession


class AccessStore:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def revoke(self, nonce: str, expires_at: datetime, now: datetime) -> None:
        """Revoke the session `nonce` until `expires_at`; the revocations past their expiry go at the same time,
        so the table holds at most the sessions logged out within one session lifetime."""
        await self.session.execute(delete(RevokedSession).where(RevokedSession.expires_at <= now))
        await self.session.execute(
            insert(RevokedSession).values(nonce=nonce, expires_at=expires_at).on_conflict_do_nothing()
        )

    async def is_revoked(self, nonce: str) -> bool:
        """Whether the session `nonce` was revoked."""
        found = await self.session.scalar(select(RevokedSession.nonce).where(RevokedSession.nonce == nonce))
        return found is not None
