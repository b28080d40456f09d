"""Request bodies over HTTP: the content type, the size limit and gzip, read without ever holding more than
the limit in memory."""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator

from eval_pipelines.receiver.payloads import JSON, PROTOBUF, BadPayload

_CONTENT_TYPES = {"application/x-protobuf": PROTOBUF, "application/protobuf": PROTOBUF, "application/json": JSON}


class TooLarge(ValueError):
    pass


class UnsupportedEncoding(ValueError):
    pass


def encoding_of(content_type: str | None) -> str | None:
    """``protobuf`` or ``json`` for the OTLP/HTTP content types (parameters such as ``charset`` ignored)."""
    return _CONTENT_TYPES.get((content_type or "").split(";")[0].strip().lower())


async def read_limited(chunks: AsyncIterator[bytes], limit: int) -> bytes:
    """The whole body, or :class:`TooLarge` as soon as it passes ``limit`` bytes."""
    parts, size = [], 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"the body is larger than {limit} bytes")
        parts.append(chunk)
    return b"".join(parts)


def decompress(body: bytes, content_encoding: str | None, limit: int) -> bytes:
    """The body after ``Content-Encoding`` (none or gzip), at most ``limit`` bytes once decompressed."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding == "identity":
        return body
    if encoding != "gzip":
        raise UnsupportedEncoding(f"Content-Encoding {encoding!r} is not supported (use gzip or none)")
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error as error:
        raise BadPayload(f"the body is not valid gzip: {error}") from None
    if len(data) > limit:
        raise TooLarge(f"the body is larger than {limit} bytes once decompressed")
    if not inflater.eof:
        raise BadPayload("the gzip body is truncated")
    return data
