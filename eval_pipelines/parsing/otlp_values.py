"""Lenient decoding of OTLP/JSON scalars: AnyValue, ids, int64s and enums.

The OTLP/JSON spec says: hex ids, int64 as decimal strings, integer enums, camelCase keys. Real
exporters differ (protobuf's JSON mapping writes base64 ids and enum names; some write snake_case
keys or numbers), so every reader here accepts all of those.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

_ANY_VALUE_KEYS = (
    ("stringValue", "string_value"),
    ("intValue", "int_value"),
    ("doubleValue", "double_value"),
    ("boolValue", "bool_value"),
    ("arrayValue", "array_value"),
    ("kvlistValue", "kvlist_value"),
    ("bytesValue", "bytes_value"),
)

ANY_VALUE_KINDS = tuple(camel for camel, _ in _ANY_VALUE_KEYS)  # in the order a value with several is read
_KIND_OF_KEY = {name: camel for camel, snake in _ANY_VALUE_KEYS for name in (camel, snake)}

STATUS_CODES = {0: "UNSET", 1: "OK", 2: "ERROR"}


def field(obj: dict[str, Any], camel: str, snake: str) -> Any:
    value = obj.get(camel)
    return obj.get(snake) if value is None else value


def any_value(value: Any) -> Any:
    """Decode an OTLP AnyValue (or an already-plain JSON value) into a Python value."""
    if not isinstance(value, dict):
        return value
    if len(value) == 1:  # the usual AnyValue: one key, decoded without trying every kind in turn
        for key, inner in value.items():
            kind = _KIND_OF_KEY.get(key)
            return None if kind is None or inner is None else any_value_of_kind(kind, inner)
    for camel, snake in _ANY_VALUE_KEYS:
        inner = value.get(camel, value.get(snake))
        if inner is not None:
            return any_value_of_kind(camel, inner)
    return None


def any_value_of_kind(kind: str, inner: Any) -> Any:
    """The Python value of an AnyValue's non-null ``inner`` part of ``kind`` (a camelCase key)."""
    if kind == "intValue":
        number = to_int(inner)
        # Out of int64 or not a number: kept as its text, so whoever reads it as a number says why it cannot.
        return number if number is not None else str(inner)
    if kind == "arrayValue":
        return [any_value(v) for v in (inner.get("values") or [])] if isinstance(inner, dict) else []
    if kind == "kvlistValue":
        return attributes(inner.get("values") if isinstance(inner, dict) else inner)
    return inner


def attributes(raw: Any) -> dict[str, Any]:
    """Key/value list (``[{"key":..,"value":AnyValue}]``) or a plain map into a dict."""
    if isinstance(raw, list):
        out: dict[str, Any] = {}
        for item in raw:
            try:
                key, value = item["key"], item["value"]
                text = value.get("stringValue")  # the common case, without a call per attribute
            except (TypeError, KeyError, AttributeError):
                if isinstance(item, dict) and isinstance(item.get("key"), str):
                    out[item["key"]] = any_value(item.get("value"))
                continue
            if isinstance(key, str):
                out[key] = text if text is not None else any_value(value)
        return out
    if isinstance(raw, dict):
        return {str(k): any_value(v) for k, v in raw.items()}
    return {}


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def to_int(value: Any) -> int | None:
    """int64 as a decimal string or a number; anything else, a number outside int64 included, is None."""
    if isinstance(value, str):  # OTLP/JSON's own form first: this runs for every timestamp
        try:
            number = int(value)
        except ValueError:
            return None
    elif isinstance(value, bool):
        return None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    else:
        return None
    return number if INT64_MIN <= number <= INT64_MAX else None


def otel_id(value: Any, n_bytes: int) -> str | None:
    """A trace (16 bytes) or span (8 bytes) id as lower-case hex; accepts hex or base64."""
    if not isinstance(value, str) or not value:
        return None
    if len(value) == 2 * n_bytes:
        try:
            raw = bytes.fromhex(value)
        except ValueError:
            raw = b""
        if len(raw) == n_bytes:  # fromhex skips spaces: a short result was not hex
            return raw.hex() if any(raw) else None
    decoded = _from_base64(value)
    if decoded is None or len(decoded) != n_bytes or not any(decoded):
        return None
    return decoded.hex()


def _from_base64(value: str) -> bytes | None:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def enum_name(value: Any, names: dict[int, str], prefix: str) -> str | None:
    """Integer enum or its proto name (``SPAN_KIND_CLIENT``, ``STATUS_CODE_ERROR``) to the short name."""
    number = to_int(value)
    if number is not None:
        return names.get(number)
    if isinstance(value, str):
        short = value.upper().removeprefix(prefix)
        return short if short in names.values() else None
    return None


def ordered_items(items: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    """The items of a flattened list attribute (``prefix.N.rest`` keys grouped by N), in index order."""
    return [items[i] for i in sorted(items)]


def unflatten(flat: dict[str, Any]) -> dict[str, Any]:
    """``{"message.tool_calls.0.tool_call.function.name": v}`` to nested dicts and lists."""
    root: dict[str, Any] = {}
    for key, value in flat.items():
        node: Any = root
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                break
        else:
            node[parts[-1]] = value
    return _lists_from_digit_keys(root)


def _lists_from_digit_keys(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    if node and all(k.isdigit() for k in node):
        return [_lists_from_digit_keys(node[k]) for k in sorted(node, key=int)]
    return {k: _lists_from_digit_keys(v) for k, v in node.items()}
