"""Server-side secrets: keys derived from `APP_SECRET` per purpose, and secret files that `make run` generates."""

import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from stack.settings import Settings


def derive_key(settings: Settings, purpose: str) -> bytes:
    """A 256-bit key for one purpose (e.g. "customer-ref"): keys of different purposes are independent."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(
        settings.require_app_secret()
    )


def new_secret() -> str:
    """A fresh URL-safe secret of 256 bits."""
    return secrets.token_urlsafe(32)


def secret_file(path: Path, prefix: str = "") -> str:
    """The secret kept in `path`, generated on first use (after `prefix`, e.g. Stripe's `whsec_`); the file is
    readable by its owner only (0600)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(prefix + new_secret() + "\n")
    return path.read_text().strip()
