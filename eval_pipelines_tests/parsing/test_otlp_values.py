import base64

import pytest

from eval_pipelines.parsing.otlp_values import STATUS_CODES, any_value, attributes, enum_name, otel_id, to_int


@pytest.mark.parametrize("raw,expected", [
    ("5b8efff798038103d269b633813fc60c", "5b8efff798038103d269b633813fc60c"),
    ("5B8EFFF798038103D269B633813FC60C", "5b8efff798038103d269b633813fc60c"),
    ("5b8efff798038103D269B633813FC60C", "5b8efff798038103d269b633813fc60c"),
    ("12345678901234567890123456789012", "12345678901234567890123456789012"),
    (" 5b8efff798038103d269b633813fc60", None),
    (base64.b64encode(bytes.fromhex("5b8efff798038103d269b633813fc60c")).decode(),
     "5b8efff798038103d269b633813fc60c"),
    ("00000000000000000000000000000000", None),
    ("", None),
    ("not-an-id", None),
    (12345, None),
    ("abcd", None),
])
def test_trace_ids_are_read_as_hex_or_base64(raw, expected):
    assert otel_id(raw, 16) == expected


def test_span_id_in_base64_has_eight_bytes():
    assert otel_id(base64.b64encode(b"\x01" * 8).decode(), 8) == "01" * 8
    assert otel_id(base64.b64encode(b"\x01" * 16).decode(), 8) is None


@pytest.mark.parametrize("raw,expected", [("1795370366411788328", 1795370366411788328), (17, 17), (17.0, 17),
                                          (17.5, None), ("yesterday", None), (True, None), (None, None)])
def test_int64_accepts_strings_and_numbers_only(raw, expected):
    assert to_int(raw) == expected


@pytest.mark.parametrize("raw,expected", [(2, "ERROR"), ("2", "ERROR"), ("STATUS_CODE_ERROR", "ERROR"),
                                          ("status_code_ok", "OK"), (7, None), ("BOGUS", None)])
def test_enums_accept_numbers_and_names(raw, expected):
    assert enum_name(raw, STATUS_CODES, "STATUS_CODE_") == expected


def test_any_value_decodes_nested_lists_maps_and_snake_case_keys():
    raw = {"kvlistValue": {"values": [
        {"key": "n", "value": {"intValue": "3"}},
        {"key": "xs", "value": {"arrayValue": {"values": [{"stringValue": "a"}, {"boolValue": True}]}}},
        {"key": "snake", "value": {"double_value": 0.5}},
        {"key": "empty", "value": {}},
    ]}}
    assert any_value(raw) == {"n": 3, "xs": ["a", True], "snake": 0.5, "empty": None}


def test_attributes_accept_a_plain_map_and_skip_malformed_items():
    assert attributes({"a": 1, "b": {"stringValue": "x"}}) == {"a": 1, "b": "x"}
    assert attributes([{"key": "ok", "value": {"stringValue": "v"}}, {"nokey": 1}, "junk"]) == {"ok": "v"}
    assert attributes("junk") == {}
