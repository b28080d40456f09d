"""OTLP/HTTP: ``POST /v1/traces`` and ``POST /v1/logs`` (protobuf or JSON, gzip or not), ``GET /metrics``,
``GET /healthz`` (the process serves) and ``GET /readyz`` (it accepts data: the backlog is under its limit).

Statuses as the OTLP/HTTP specification gives them, so the SDK exporters' retry logic works: 400 for a body
that is not an export request (not retried), 401 without a valid token, 413 over the size limit, 415 for
another content type or encoding, 503 with ``Retry-After`` while the backlog is full or the disk refuses.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from eval_pipelines.receiver.auth import authorized
from eval_pipelines.receiver.bodies import TooLarge, UnsupportedEncoding, decompress, encoding_of, read_limited
from eval_pipelines.receiver.payloads import JSON, PROTOBUF, BadPayload, error_status, export_response
from eval_pipelines.receiver.spool import Overloaded

if TYPE_CHECKING:
    from eval_pipelines.receiver.server import Receiver

_MEDIA_TYPES = {PROTOBUF: "application/x-protobuf", JSON: "application/json"}
# google.rpc.Code values for the Status body of each HTTP error.
_RPC_CODES = {400: 3, 401: 16, 413: 8, 415: 3, 503: 14}


def _error(status: int, message: str, encoding: str, headers: dict[str, str] | None = None) -> Response:
    return Response(error_status(_RPC_CODES[status], message, encoding), status_code=status,
                    media_type=_MEDIA_TYPES[encoding], headers=headers)


async def _export(receiver: Receiver, signal: str, request: Request) -> Response:
    encoding = encoding_of(request.headers.get("content-type"))
    settings = receiver.settings
    refuse = partial(receiver.metrics.refused, "http", signal)
    if not authorized(settings.tokens, request.headers.get("authorization")):
        refuse("unauthenticated")
        return _error(401, "missing or wrong bearer token", encoding or JSON, {"WWW-Authenticate": "Bearer"})
    if encoding is None:
        refuse("unsupported_media_type")
        return _error(415, "Content-Type must be application/x-protobuf or application/json", JSON)
    retry = {"Retry-After": str(settings.retry_after_seconds)}
    try:
        sent = await read_limited(request.stream(), settings.max_request_bytes)
        body = decompress(sent, request.headers.get("content-encoding"), settings.max_request_bytes)
        accepted, durable = receiver.take(signal, encoding, body)
        await asyncio.wrap_future(durable)
    except ClientDisconnect:
        refuse("client_disconnected")
        return Response(status_code=400)
    except TooLarge as error:
        refuse("too_large")
        return _error(413, str(error), encoding)
    except UnsupportedEncoding as error:
        refuse("unsupported_encoding")
        return _error(415, str(error), encoding)
    except BadPayload as error:
        refuse("malformed", len(sent))
        return _error(400, str(error), encoding)
    except Overloaded as error:
        refuse("overloaded", len(sent))
        return _error(503, f"the receiver is behind ({error}); retry later", encoding, retry)
    except OSError as error:
        refuse("disk", len(sent))
        return _error(503, f"the spool cannot be written ({error.strerror}); retry later", encoding, retry)
    receiver.metrics.request("http", signal, "partial" if accepted.rejected else "accepted", len(sent),
                             accepted.items, accepted.rejected)
    return Response(export_response(signal, encoding, accepted), media_type=_MEDIA_TYPES[encoding])


async def _metrics(receiver: Receiver, request: Request) -> Response:
    return PlainTextResponse(receiver.prometheus(), media_type="text/plain; version=0.0.4")


async def _healthz(receiver: Receiver, request: Request) -> Response:
    return PlainTextResponse("ok\n")


async def _readyz(receiver: Receiver, request: Request) -> Response:
    if receiver.ready():
        return PlainTextResponse("ready\n")
    return PlainTextResponse("backlog full\n", status_code=503)


def http_app(receiver: Receiver) -> Starlette:
    return Starlette(routes=[
        Route("/v1/traces", partial(_export, receiver, "traces"), methods=["POST"]),
        Route("/v1/logs", partial(_export, receiver, "logs"), methods=["POST"]),
        Route("/metrics", partial(_metrics, receiver), methods=["GET"]),
        Route("/healthz", partial(_healthz, receiver), methods=["GET"]),
        Route("/readyz", partial(_readyz, receiver), methods=["GET"]),
    ])
