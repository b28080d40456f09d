"""OTLP/gRPC: ``TraceService/Export`` and ``LogsService/Export``.

The handlers take the raw request bytes (no deserializer), so a request is parsed once, by the same code
as over HTTP. Status codes as the OTLP specification gives them: INVALID_ARGUMENT for a malformed request
(not retried), UNAUTHENTICATED without a valid token, UNAVAILABLE while the backlog is full or the disk
refuses (the exporters retry it). gRPC itself refuses requests over the size limit (RESOURCE_EXHAUSTED)
and decompresses gzip.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import grpc

from eval_pipelines.receiver.auth import authorized
from eval_pipelines.receiver.payloads import PROTOBUF, BadPayload, export_response
from eval_pipelines.receiver.spool import Overloaded

if TYPE_CHECKING:
    from eval_pipelines.receiver.server import Receiver

SERVICES = {"traces": "opentelemetry.proto.collector.trace.v1.TraceService",
            "logs": "opentelemetry.proto.collector.logs.v1.LogsService"}
WORKERS = 8


def _export_handler(receiver: Receiver, signal: str) -> Callable[[bytes, grpc.ServicerContext], bytes]:
    def export(body: bytes, context: grpc.ServicerContext) -> bytes:
        refuse = lambda reason: receiver.metrics.refused("grpc", signal, reason, len(body))  # noqa: E731
        metadata = dict(context.invocation_metadata())
        if not authorized(receiver.settings.tokens, metadata.get("authorization")):
            refuse("unauthenticated")
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")
        try:
            accepted, durable = receiver.take(signal, PROTOBUF, body)
            durable.result()
        except BadPayload as error:
            refuse("malformed")
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        except Overloaded as error:
            refuse("overloaded")
            context.abort(grpc.StatusCode.UNAVAILABLE, f"the receiver is behind ({error}); retry later")
        except OSError as error:
            refuse("disk")
            context.abort(grpc.StatusCode.UNAVAILABLE, f"the spool cannot be written ({error.strerror})")
        receiver.metrics.request("grpc", signal, "partial" if accepted.rejected else "accepted", len(body),
                                 accepted.items, accepted.rejected)
        return export_response(signal, PROTOBUF, accepted)

    return export


def grpc_server(receiver: Receiver) -> tuple[grpc.Server, int]:
    """The server (not started) and the port it bound."""
    server = grpc.server(ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="receiver-grpc"), options=[
        ("grpc.max_receive_message_length", receiver.settings.max_request_bytes)])
    for signal, service in SERVICES.items():
        handler = grpc.unary_unary_rpc_method_handler(_export_handler(receiver, signal))
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, {"Export": handler}),))
    port = server.add_insecure_port(f"{receiver.settings.host}:{receiver.settings.grpc_port}")
    return server, port
