import pytest

from eval_pipelines.parsing.plain import epoch_ns, plain_record
from eval_pipelines.parsing.records import LAKE_START_NS


@pytest.mark.parametrize("raw,expected", [
    ("2026-11-21T14:00:00Z", 1795269600 * 10**9),
    ("2026-11-21T14:00:00", 1795269600 * 10**9),
    ("2026-11-21T15:00:00+01:00", 1795269600 * 10**9),
    (1795269600, 1795269600 * 10**9),
    (1795269600.5, 1795269600500000000),
    (1795269600000, 1795269600 * 10**9),
    (1795269600 * 10**9, 1795269600 * 10**9),
    ("yesterday", None), (None, None), (True, None),
])
def test_times_in_iso_or_epoch_units(raw, expected):
    assert epoch_ns(raw) == expected


def staged(record, settings):
    return plain_record(record, settings, LAKE_START_NS)


def test_minimal_record_gets_stable_ids_and_defaults(settings):
    record = {"start_time": "2026-11-21T14:00:00Z", "input": "Hi", "output": "Hello", "route": "/x",
              "dimensions": {"feature_flag": "b", "unknown_dim": "ignored"}, "team": "core"}
    first, second = staged(record, settings), staged(dict(record), settings)
    assert first["span_id"] == second["span_id"] and len(first["span_id"]) == 16
    assert first["operation"] == "chat" and first["input_text"] == "Hi"
    names = list(settings.lookup_keys())  # prompt_version, route, feature_flag, session_id, user_id
    assert first["lookups"] == [{"route": "/x", "feature_flag": "b"}.get(name) for name in names]
    assert '"team":"core"' in first["attributes"]


@pytest.mark.parametrize("record,reason", [
    ({"input": "x"}, "plain record without start_time"),
    ({"start_time": "soon", "input": "x"}, "plain record with unreadable start_time"),
    ({"start_time": "2026-11-21T14:00:00Z"}, "plain record without input or output"),
    ({"start_time": "1999-01-01T00:00:00Z", "input": "x"}, "plain record starts before the lake's first hour"),
])
def test_unusable_records_are_quarantined_with_a_reason(settings, record, reason):
    assert staged(record, settings).startswith(reason)


def test_wrong_token_types_warn(settings):
    out = staged({"start_time": 1795269600, "input": "x", "input_tokens": "many"}, settings)
    assert out["input_tokens"] is None
    assert out["parse_warnings"] == ["input_tokens is not an integer: 'many'"]
