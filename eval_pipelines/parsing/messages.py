"""One message shape for every source convention.

The canonical shape is the OpenTelemetry GenAI one (``gen_ai.input.messages``)::

    [{"role": "user", "parts": [{"type": "text", "content": "..."}]},
     {"role": "assistant", "parts": [{"type": "tool_call", "id": "..", "name": "..", "arguments": ..}],
      "finish_reason": "tool_calls"}]

OpenAI-style messages (``content`` strings or content arrays, ``tool_calls``), OpenInference's
flattened ``llm.*_messages.N.message.*`` attributes and the deprecated per-message events are all
converted to it. System messages are moved out into ``system_instructions``.
"""

from __future__ import annotations

from typing import Any

import orjson

Message = dict[str, Any]


def loads_lenient(value: Any) -> Any:
    """JSON text to a value; non-JSON text stays text, other values pass through."""
    if isinstance(value, (str, bytes)):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def _text_part(content: Any) -> dict[str, Any]:
    return {"type": "text", "content": content if isinstance(content, str) else _json_text(content)}


def _json_text(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def _tool_call_part(call: dict[str, Any]) -> dict[str, Any]:
    function = call.get("function") if isinstance(call.get("function"), dict) else {}
    return {
        "type": "tool_call",
        "id": call.get("id"),
        "name": call.get("name") or function.get("name"),
        "arguments": loads_lenient(call.get("arguments", function.get("arguments"))),
    }


def _parts_from_content(content: Any) -> list[dict[str, Any]]:
    if content is None or content == "":
        return []
    if isinstance(content, list):
        parts = []
        for item in content:
            if isinstance(item, dict):
                text = item.get("text", item.get("content"))
                kind = item.get("type", "text")
                parts.append(_text_part(text) if kind in ("text", "input_text", "output_text") else item)
            else:
                parts.append(_text_part(item))
        return parts
    return [_text_part(content)]


def normalize_message(raw: Any, default_role: str = "user") -> Message | None:
    if isinstance(raw, str):
        return {"role": default_role, "parts": [_text_part(raw)]}
    if not isinstance(raw, dict):
        return None
    message = raw.get("message") if isinstance(raw.get("message"), dict) else raw
    role = str(message.get("role") or default_role)
    if isinstance(message.get("parts"), list):
        parts = [p if isinstance(p, dict) else _text_part(p) for p in message["parts"]]
    else:
        parts = _parts_from_content(message.get("content"))
        for call in message.get("tool_calls") or []:
            if isinstance(call, dict):
                parts.append(_tool_call_part(call))
        if role == "tool" and message.get("tool_call_id", message.get("id")) is not None:
            response = parts[0]["content"] if parts and parts[0].get("type") == "text" else None
            parts = [{"type": "tool_call_response", "id": message.get("tool_call_id", message.get("id")),
                      "response": response}]
    normalized: Message = {"role": role, "parts": parts}
    finish = raw.get("finish_reason", message.get("finish_reason"))
    if finish is not None:
        normalized["finish_reason"] = str(finish)
    return normalized


def _is_canonical(value: list[Any]) -> bool:
    for message in value:  # plain loops: this runs for every message of every call
        if not (isinstance(message, dict) and isinstance(message.get("role"), str)):
            return False
        parts = message.get("parts")
        if not isinstance(parts, list):
            return False
        for part in parts:
            if not isinstance(part, dict):
                return False
        if "finish_reason" in message and not isinstance(message["finish_reason"], str):
            return False
    return True


def normalize_messages(value: Any, default_role: str = "user") -> list[Message] | None:
    """Messages in any supported shape (JSON text, list, single message) to the canonical list."""
    value = loads_lenient(value)
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, list) and _is_canonical(value):
        return value
    if isinstance(value, dict):
        value = value.get("messages", [value]) if "messages" in value else [value]
    if not isinstance(value, list):
        value = [value]
    messages = [m for m in (normalize_message(item, default_role) for item in value) if m is not None]
    return messages or None


def message_text(message: Message) -> str:
    texts = []
    for part in message.get("parts", ()):  # a plain loop: this runs for every message of every call
        content = part.get("content")
        if isinstance(content, str) and part.get("type") == "text":
            texts.append(content)
    return "\n".join(texts)


def read_inputs(messages: list[Message] | None) -> tuple[str | None, list[Message] | None, str | None]:
    """Input messages, in one pass: system messages become ``system_instructions`` text, the rest stay
    input messages; and the text of the last user message."""
    if not messages:
        return None, messages, None
    system: list[str] = []
    rest: list[Message] = []
    last_user = None
    for message in messages:
        role = message["role"]
        if role == "system" or role == "developer":
            system.append(message_text(message))
        else:
            rest.append(message)
            if role == "user":
                last_user = message
    user_text = None if last_user is None else message_text(last_user)
    return ("\n".join(system), rest or None, user_text) if system else (None, messages, user_text)


def read_outputs(messages: list[Message] | None) -> tuple[str | None, list[dict[str, Any]] | None, list[str] | None]:
    """Output messages, in one pass: the assistant's text, its tool calls and its finish reasons."""
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    reasons: list[str] = []
    for message in messages or ():
        if message["role"] == "assistant":
            texts.append(message_text(message))
        for part in message.get("parts", ()):
            if part.get("type") == "tool_call":
                calls.append(part)
        if reason := message.get("finish_reason"):
            reasons.append(reason)
    return ("\n".join(texts) if texts else None), calls or None, reasons or None


def system_instructions_text(value: Any) -> str | None:
    """``gen_ai.system_instructions`` (a JSON list of parts) or plain text to text."""
    value = loads_lenient(value)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        value = [value]
    if isinstance(value, list):
        texts = []
        for item in value:
            if isinstance(item, dict):
                texts.append(message_text(item) if "parts" in item else str(item.get("content", "")))
            else:
                texts.append(str(item))
        return "\n".join(t for t in texts if t) or None
    return _json_text(value)


def dumps(value: Any) -> str | None:
    return None if value is None else _json_text(value)


def cut_text(text: str, limit: int) -> str:
    """``text`` up to ``limit`` characters, saying how many more were left out."""
    return text if len(text) <= limit else f"{text[:limit]}… [{len(text) - limit:,} more characters]"
