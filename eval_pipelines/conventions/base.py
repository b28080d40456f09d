"""What a trace convention is: how an instrumentation marks its model calls and where it puts their model, tokens,
messages and dimensions. The parsing engine (:mod:`eval_pipelines.parsing.conventions`) reads every span through
all of them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Attributes = dict[str, Any]
# A flattened list attribute's items (``prefix.N.rest`` keys), by N: ``{N: {rest: value}}``.
Indexed = dict[int, dict[str, Any]]


def text(value: Any) -> str | None:
    """A value as text (None stays None)."""
    return None if value is None else (value if isinstance(value, str) else str(value))


@dataclass(frozen=True)
class Convention:
    """One instrumentation convention.

    ``detection_order`` ranks conventions when they recognise spans (most specific first); ``field_order`` when
    their keys are read (standard keys first), so a span that carries two conventions' keys reads the standard ones.
    """

    name: str  # the rows' source_format
    detection_order: int
    field_order: int
    # The role of a span this convention recognises ("llm", "retrieval", "tool", "other"); None: it does not decide.
    role: Callable[[Attributes], str | None] | None = None
    # Whether a model call's keys (plain ones, and the prefixes of its flattened lists) are in this convention.
    claims: Callable[[set[str], set[str]], bool] = lambda keys, prefixes: False
    # Canonical field -> the attribute keys holding it, most preferred first.
    strings: dict[str, tuple[str, ...]] = field(default_factory=dict)  # operation, provider, request/response_model
    integers: dict[str, tuple[str, ...]] = field(default_factory=dict)  # input_tokens, output_tokens
    finish_reason_keys: tuple[str, ...] = ()
    response_id_keys: tuple[str, ...] = ()
    # Keys read into canonical fields, so not copied into the row's ``attributes``.
    consumed: frozenset[str] = frozenset()
    # Flattened lists of messages: (prefix, is output, builder of the messages from its items).
    indexed_messages: tuple[tuple[str, bool, Callable[[Indexed, str], list[dict] | None]], ...] = ()
    # Other flattened lists it writes (kept apart from the attributes).
    indexed_prefixes: tuple[str, ...] = ()
    # Fills the call's messages from its attributes where no earlier source gave them (``content`` has
    # ``input_messages``, ``output_messages`` and ``system``); ``early``: before flattened lists and events.
    content: Callable[[Attributes, Any], None] | None = None
    content_early: bool = False
    # A tool execution's fields (tool_name, tool_call_id, arguments, result) -> the keys holding them.
    tool_strings: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Completes the fields once read with this convention's defaults and fallbacks; called for every model call,
    # ``fields["source_format"]`` naming the convention that claimed it.
    complete: Callable[[dict[str, Any], Attributes], None] | None = None
