import gzip
import json

import pytest

from eval_pipelines.parsing.files import RAW_TEXT_LIMIT, iter_documents, truncate_raw
from eval_pipelines_tests.builders import latest_llm_attributes, span, traces_request, write_lines


def test_lines_truncated_garbage_and_blank(tmp_path):
    path = write_lines(tmp_path / "a.jsonl", {"x": 1}, b"", b'{"resourceSpans": [', b"\x00\x01garbage", b"   ")
    documents = list(iter_documents(path))
    assert [d.line for d in documents] == [1, 3, 4]
    assert documents[0].value == {"x": 1} and documents[0].error is None
    assert documents[1].error.startswith("malformed JSON") and documents[2].error.startswith("malformed JSON")


@pytest.mark.parametrize(("line", "text"), [
    (b'{"text": "caf\xe9 ok"}', "caf\ufffd ok"),
    (b'{"text": "half \\ud83d, whole \\ud83d\\ude00, low \\ude00"}', "half \ufffd, whole \U0001f600, low \ufffd"),
], ids=["invalid_utf8", "lone_surrogate_escapes"])
def test_invalid_text_inside_a_string_is_replaced_not_rejected(tmp_path, line, text):
    path = write_lines(tmp_path / "a.jsonl", line)
    (document,) = iter_documents(path)
    assert document.error is None and document.replaced_invalid_text
    assert document.value["text"] == text


def test_gzip_and_pretty_printed_json(tmp_path):
    request = traces_request(span("01" * 8, attributes=latest_llm_attributes()))
    with gzip.open(tmp_path / "a.jsonl.gz", "wb") as stream:
        stream.write(json.dumps(request).encode() + b"\n")
    (document,) = iter_documents(tmp_path / "a.jsonl.gz")
    assert document.value.resourceSpans[0].scopeSpans[0].spans[0].spanId == "01" * 8  # the typed fast path
    (tmp_path / "b.json").write_text(json.dumps(request, indent=2))
    assert [d.value for d in iter_documents(tmp_path / "b.json")] == [request]


def test_corrupt_gzip_and_missing_file_are_reported(tmp_path):
    (tmp_path / "bad.jsonl.gz").write_bytes(b"not gzip at all")
    (document,) = iter_documents(tmp_path / "bad.jsonl.gz")
    assert document.error.startswith("cannot read file")
    (document,) = iter_documents(tmp_path / "missing.jsonl")
    assert document.error.startswith("cannot open file")


def test_five_megabyte_attribute_value_is_parsed(tmp_path):
    big = "x" * (5 * 1024 * 1024)
    request = traces_request(span("01" * 8, attributes=latest_llm_attributes(answer=big)))
    (document,) = iter_documents(write_lines(tmp_path / "big.jsonl", request))
    assert document.error is None


def test_raw_text_is_truncated_with_its_length():
    text = truncate_raw(b"y" * (RAW_TEXT_LIMIT + 10))
    assert text.startswith("y" * RAW_TEXT_LIMIT) and text.endswith(f"[{RAW_TEXT_LIMIT + 10} chars]")


def test_byte_ranges_cover_every_line_once_with_file_line_numbers(tmp_path):
    from eval_pipelines.parsing.files import iter_range

    path = write_lines(tmp_path / "a.jsonl", *[{"n": n, "pad": "x" * (n % 7)} for n in range(200)], b"{bad")
    whole = [(d.line, d.value, d.error is None) for d in iter_documents(path)]
    data = path.read_bytes()
    for chunk in (1, 17, 100, len(data)):
        pieces = [(d.line, d.value, d.error is None) for start in range(0, len(data), chunk)
                  for d in iter_range(path, start, min(start + chunk, len(data)), data[:start].count(b"\n"))]
        assert pieces == whole


def test_a_byte_order_mark_before_the_first_line_is_no_content(tmp_path):
    (tmp_path / "a.jsonl").write_bytes(b'\xef\xbb\xbf{"x": 1}\n\xef\xbb\xbf{"x": 2}\n')
    (tmp_path / "b.json").write_bytes(b'\xef\xbb\xbf{\n  "x": 3\n}\n')
    first, second = iter_documents(tmp_path / "a.jsonl")
    assert first.value == {"x": 1} and second.error.startswith("malformed JSON"), "only the file's start"
    assert [d.value for d in iter_documents(tmp_path / "b.json")] == [{"x": 3}]
