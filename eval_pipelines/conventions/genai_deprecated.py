"""OpenTelemetry GenAI semantic conventions before 1.37 (and OpenLLMetry): ``gen_ai.system``,
``gen_ai.usage.prompt_tokens``, flattened ``gen_ai.prompt.N.*`` / ``gen_ai.completion.N.*`` messages. Its
per-message events are read with the other GenAI events."""

from __future__ import annotations

from eval_pipelines.conventions.base import Convention, Indexed
from eval_pipelines.parsing import messages as msg
from eval_pipelines.parsing.otlp_values import ordered_items

MARKERS = frozenset({"gen_ai.system", "gen_ai.usage.prompt_tokens", "gen_ai.usage.completion_tokens"})


def indexed_messages(items: Indexed, default_role: str) -> list[dict] | None:
    return msg.normalize_messages(ordered_items(items), default_role)


CONVENTION = Convention(
    name="otel_genai_deprecated",
    detection_order=2,
    field_order=1,
    claims=lambda keys, prefixes: (not MARKERS.isdisjoint(keys) or "gen_ai.prompt." in prefixes)
    and "gen_ai.provider.name" not in keys,
    strings={"provider": ("gen_ai.system",)},
    integers={"input_tokens": ("gen_ai.usage.prompt_tokens",), "output_tokens": ("gen_ai.usage.completion_tokens",)},
    consumed=MARKERS,
    indexed_messages=(("gen_ai.prompt.", False, indexed_messages), ("gen_ai.completion.", True, indexed_messages)),
)
