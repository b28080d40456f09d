"""Bearer tokens: the same check for an HTTP ``Authorization`` header and gRPC ``authorization`` metadata."""

from __future__ import annotations

import hmac


def authorized(tokens: tuple[str, ...], header: str | None) -> bool:
    """True when no tokens are configured, or ``header`` is ``Bearer <one of them>`` (compared in constant
    time, so a timing difference tells nothing about a token)."""
    if not tokens:
        return True
    scheme, _, presented = (header or "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    presented_bytes = presented.strip().encode()
    return any(hmac.compare_digest(presented_bytes, token.encode()) for token in tokens)
