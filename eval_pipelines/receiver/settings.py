"""The receiver's settings: command-line flags with these defaults; the tokens only from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

TOKEN_ENV_VAR = "EVAL_PIPELINES_RECEIVER_TOKEN"
MIB = 1024 * 1024


def tokens_from_env() -> tuple[str, ...]:
    """Bearer tokens a client may present: ``EVAL_PIPELINES_RECEIVER_TOKEN``, several separated by commas
    (so a token can be rotated without downtime). None set: no authentication."""
    return tuple(token.strip() for token in os.environ.get(TOKEN_ENV_VAR, "").split(",") if token.strip())


@dataclass(frozen=True)
class ReceiverSettings:
    host: str = "127.0.0.1"
    http_port: int = 4318
    grpc_port: int = 4317
    tokens: tuple[str, ...] = field(default=(), repr=False)
    max_request_bytes: int = 16 * MIB
    """Largest request body, after decompression (413 / RESOURCE_EXHAUSTED above it)."""
    rotate_bytes: int = 4 * MIB
    """A spool segment is published as a landing file once it holds this much ..."""
    rotate_seconds: float = 10.0
    """... or once its first request is this old."""
    backlog_limit_bytes: int = 256 * MIB
    """Accepted bytes not yet in a landing file; above it requests are refused with 503 and Retry-After."""
    retry_after_seconds: int = 5
    publish_processes: int = 0
    """Worker processes converting spool segments into landing files (0: a thread of the receiver)."""
