"""Streaming reads of landing files: one JSON document per line, plain or gzip.

Memory stays flat whatever the file size: lines are read one at a time. A ``.json`` file holding a
single pretty-printed document (not JSON lines) is read whole, up to ``WHOLE_DOCUMENT_LIMIT``.
"""

from __future__ import annotations

import codecs
import gzip
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from eval_pipelines.parsing.otlp_typed import decode_trace_request

LANDING_SUFFIXES = (".json", ".jsonl", ".json.gz", ".jsonl.gz")
WHOLE_DOCUMENT_LIMIT = 256 * 1024 * 1024
RAW_TEXT_LIMIT = 2000
REPLACED_TEXT_WARNING = "invalid UTF-8 bytes or lone surrogates replaced with U+FFFD"


def is_landing_file(path: Path) -> bool:
    return path.name.endswith(LANDING_SUFFIXES) and not path.name.startswith(".")


def open_binary(path: Path) -> BinaryIO:
    raw = open(path, "rb")  # noqa: SIM115 - returned to the caller
    return gzip.GzipFile(fileobj=raw) if path.name.endswith(".gz") else raw


@dataclass(frozen=True)
class Document:
    """One line of a landing file: the parsed JSON value, or the reason it could not be parsed. A spec-shaped
    trace export is parsed into a :class:`~eval_pipelines.parsing.otlp_typed.TraceRequest`."""

    line: int
    value: Any
    error: str | None
    raw: bytes
    replaced_invalid_text: bool = False


def truncate_raw(raw: bytes | str) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return text if len(text) <= RAW_TEXT_LIMIT else text[:RAW_TEXT_LIMIT] + f"… [{len(text)} chars]"


def _is_blank(line: bytes) -> bool:
    return not line or line.isspace()  # line.strip() would copy the whole line (megabytes) to tell


def _without_byte_order_mark(number: int, line: bytes) -> bytes:
    """A file's first line without the UTF-8 byte order mark some Windows tools write."""
    return line[len(codecs.BOM_UTF8):] if number == 1 and line.startswith(codecs.BOM_UTF8) else line


def json_value(data: bytes) -> tuple[Any, bool]:
    """The JSON value of ``data``, and whether invalid UTF-8 bytes or lone surrogate escapes (half an emoji cut by
    a JavaScript app) had to become U+FFFD for it; raises ``ValueError`` saying why ``data`` is not JSON."""
    try:
        return orjson.loads(data), False
    except orjson.JSONDecodeError as exc:
        if "utf-8" not in str(exc).lower() and "surrogate" not in str(exc).lower():
            raise
        error = exc
    try:  # Python's decoder keeps lone surrogates; a UTF-16 round trip replaces them
        text = json.dumps(json.loads(data.decode("utf-8", "replace")), ensure_ascii=False)
        return orjson.loads(text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")), True
    except (ValueError, RecursionError):
        raise error from None


def _parse_line(number: int, line: bytes) -> Document:
    request = decode_trace_request(line)
    if request is not None:
        return Document(number, request, None, line)
    try:
        value, replaced = json_value(line)
    except ValueError as exc:
        return Document(number, None, f"malformed JSON: {exc}", line)
    return Document(number, value, None, line, replaced_invalid_text=replaced)


def iter_documents(path: Path, limit: int | None = None) -> Iterator[Document]:
    """Yield every non-blank line of ``path`` as a :class:`Document`, in file order. With ``limit``, a plain
    (not gzipped) file yields only the lines that start in its first ``limit`` bytes: what the landing index
    saw, not what a writer has appended since (a half-written line included)."""
    try:
        stream = open_binary(path)
    except OSError as exc:
        yield Document(0, None, f"cannot open file: {exc.strerror}", b"")
        return
    with stream:
        try:
            yield from _iter_stream(path, stream, None if path.name.endswith(".gz") else limit)
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            yield Document(0, None, f"cannot read file: {exc}", b"")


def splittable(path: Path) -> bool:
    """Plain JSON-lines files can be read in byte ranges by several processes."""
    return path.name.endswith(".jsonl")


def iter_range(path: Path, start: int, end: int, lines_before: int) -> Iterator[Document]:
    """The lines of a ``.jsonl`` file whose first byte lies in ``[start, end)``, numbered as in the file;
    ``lines_before`` is the number of newlines before ``start``."""
    with open(path, "rb") as stream:
        number = lines_before
        if start > 0:
            stream.seek(start - 1)
            if stream.read(1) != b"\n":
                stream.readline()
                number += 1
        position = stream.tell()
        while position < end:
            line = stream.readline()
            if not line:
                break
            number += 1
            position += len(line)
            line = _without_byte_order_mark(number, line)
            if not _is_blank(line):
                yield _parse_line(number, line)


def _iter_stream(path: Path, stream: BinaryIO, limit: int | None) -> Iterator[Document]:
    first_error: Document | None = None
    number = start = 0
    for number, line in enumerate(stream, start=1):
        if limit is not None and start >= limit:
            break
        start += len(line)
        line = _without_byte_order_mark(number, line)
        if _is_blank(line):
            continue
        document = _parse_line(number, line)
        if number == 1 and document.error and path.suffix == ".json" and line.lstrip()[:1] in (b"{", b"["):
            first_error = document
            break
        yield document
    if first_error is not None:
        yield from _whole_document(path, first_error)


def _whole_document(path: Path, first_line: Document) -> Iterator[Document]:
    """A pretty-printed ``.json`` file: parse it as one document, or report every line as before."""
    with open_binary(path) as stream:
        data = _without_byte_order_mark(1, stream.read(WHOLE_DOCUMENT_LIMIT + 1))
    if len(data) <= WHOLE_DOCUMENT_LIMIT:
        try:
            value = orjson.loads(data)
        except orjson.JSONDecodeError:
            value = None
        if isinstance(value, (dict, list)):
            for item in value if isinstance(value, list) else [value]:
                yield Document(1, item, None, b"")
            return
    yield first_line
    with open_binary(path) as stream:
        for number, line in enumerate(io.BufferedReader(stream), start=1):  # type: ignore[arg-type]
            if number > 1 and not _is_blank(line):
                yield _parse_line(number, line)
