"""Who may call what: customers are anonymous, operators present a bearer token (`OPERATOR_TOKENS`)."""

import hmac

from stack.settings import Settings


def operator_token_valid(settings: Settings, token: str | None) -> bool:
    """Whether `token` is one of the configured operator tokens, compared in constant time against each."""
    if not token:
        return False
    candidate = token.encode()
    valid = False
    for known in settings.operator_tokens:
        valid |= hmac.compare_digest(candidate, known.encode())
    return valid
