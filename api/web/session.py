"""The console's session cookie and CSRF tokens, signed with the key derived for "console-session".

A session is `v1.<expires>.<nonce>.<mac>`: nothing secret inside, the MAC (HMAC-SHA256) makes it unforgeable
and the expiry bounds it. A form's CSRF token is an HMAC of the session's nonce, so it is valid for that session
only; the login form, which comes before any session, is bound the same way to a short-lived pre-login nonce.
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
_VERSION = "v1"


def console_key(settings: Settings) -> bytes:
    return derive_key(settings, KEY_PURPOSE)


def _mac(key: bytes, message: str) -> str:
    digest = hmac.new(key, message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass(frozen=True)
class Session:
    nonce: str
    expires: datetime


def issue(key: bytes, now: datetime, ttl: timedelta) -> str:
    """A new signed token, valid until `now + ttl`."""
    expires = int((now + ttl).timestamp())
    body = f"{_VERSION}.{expires}.{secrets.token_urlsafe(18)}"
    return f"{body}.{_mac(key, body)}"


def verify(key: bytes, token: str | None, now: datetime) -> Session | None:
    """The session a token stands for, or None if it is malformed, forged or expired."""
    if not token:
        return None
    parts = token.split(".")
    if len(parts) != 4 or parts[0] != _VERSION or not parts[1].isdigit():
        return None
    body = ".".join(parts[:3])
    if not hmac.compare_digest(_mac(key, body), parts[3]):
        return None
    expires = datetime.fromtimestamp(int(parts[1]), tz=now.tzinfo)
    if expires <= now:
        return None
    return Session(nonce=parts[2], expires=expires)


def csrf_token(key: bytes, session: Session) -> str:
    """The token every form of this session carries."""
    return _mac(key, f"csrf.{session.nonce}")


def csrf_valid(key: bytes, session: Session, token: str | None) -> bool:
    return bool(token) and hmac.compare_digest(csrf_token(key, session), token or "")
