"""The console's session cookie and CSRF tokens, signed with the key derived for "console-session".

A session is `v2.<expires>.<nonce>.<subject>.<mac>`: nothing secret inside, the MAC (HMAC-SHA256) makes it
unforgeable and the expiry bounds it. The subject says what the token stands for: an operator's session names the
fingerprint of the operator token it was opened with, so it ends when that token leaves `OPERATOR_TOKENS`
(`operator_session`); the login form's pre-login token has a subject no operator session has, so it never opens
the console. Logout revokes a session's nonce in PostgreSQL (services/access), which every replica reads.
A form's CSRF token is an HMAC of the session's nonce, so it is valid for that session only.
"""

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from stack.secrets import derive_key
from stack.settings import Settings

KEY_PURPOSE = "console-session"
SESSION_COOKIE = "ops_session"
# The same session for the codec server (api.routes.codec), at its path only: Temporal Web's calls carry it.
CODEC_COOKIE = "ops_codec"
CODEC_PATH = "/codec"
LOGIN_COOKIE = "ops_login"
SESSION_TTL = timedelta(hours=8)
LOGIN_TTL = timedelta(minutes=30)
# Subjects that are not fingerprints (which are base64url, 22 characters): a login form, and open mode's sessions.
LOGIN_SUBJECT = "login"
OPEN_SUBJECT = "open"
_VERSION = "v2"


def console_key(settings: Settings) -> bytes:
    return derive_key(settings, KEY_PURPOSE)


def _mac(key: bytes, message: str, size: int = 32) -> str:
    digest = hmac.new(key, message.encode(), hashlib.sha256).digest()[:size]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass(frozen=True)
class Session:
    nonce: str
    expires: datetime
    subject: str


def issue(key: bytes, now: datetime, ttl: timedelta, subject: str) -> str:
    """A new signed token for `subject`, valid until `now + ttl`."""
    expires = int((now + ttl).timestamp())
    body = f"{_VERSION}.{expires}.{secrets.token_urlsafe(18)}.{subject}"
    return f"{body}.{_mac(key, body)}"


def verify(key: bytes, token: str | None, now: datetime) -> Session | None:
    """The session a token stands for, or None if it is malformed, forged or expired."""
    if not token:
        return None
    parts = token.split(".")
    if len(parts) != 5 or parts[0] != _VERSION or not parts[1].isdigit():
        return None
    body = ".".join(parts[:4])
    if not hmac.compare_digest(_mac(key, body), parts[4]):
        return None
    expires = datetime.fromtimestamp(int(parts[1]), tz=now.tzinfo)
    if expires <= now:
        return None
    return Session(nonce=parts[2], expires=expires, subject=parts[3])


def token_fingerprint(key: bytes, operator_token: str) -> str:
    """The subject of a session opened with `operator_token`: it names the token without revealing it."""
    return _mac(key, f"operator-token.{operator_token}", size=16)


def operator_subjects(key: bytes, settings: Settings) -> set[str]:
    """The subjects of the sessions the console admits now: one per configured token; in open mode, anyone's."""
    subjects = {token_fingerprint(key, token) for token in settings.operator_tokens}
    if settings.auth_mode == "open":
        subjects.add(OPEN_SUBJECT)
    return subjects


def operator_session(key: bytes, settings: Settings, token: str | None, now: datetime) -> Session | None:
    """The operator session a cookie stands for, unless it is invalid or its operator token was removed.

    Whether it was revoked at logout is for the caller to ask the database (services.access)."""
    session = verify(key, token, now)
    if session is None or session.subject not in operator_subjects(key, settings):
        return None
    return session


def csrf_token(key: bytes, session: Session) -> str:
    """The token every form of this session carries."""
    return _mac(key, f"csrf.{session.nonce}")


def csrf_valid(key: bytes, session: Session, token: str | None) -> bool:
    return bool(token) and hmac.compare_digest(csrf_token(key, session), token or "")
