"""The receiver as one object: the spool, the publisher, the HTTP and gRPC servers, started and stopped
together (``with Receiver(...) as receiver``)."""

from __future__ import annotations

import logging
import socket
import threading
import time
from concurrent.futures import Future
from pathlib import Path

import grpc
import uvicorn

from eval_pipelines.receiver.grpc_service import grpc_server
from eval_pipelines.receiver.http_app import http_app
from eval_pipelines.receiver.metrics import ReceiverMetrics
from eval_pipelines.receiver.payloads import Accepted, accept
from eval_pipelines.receiver.publisher import Publisher
from eval_pipelines.receiver.settings import ReceiverSettings
from eval_pipelines.receiver.spool import AdoptedFolder, Segment, Spool, adopt_orphans

log = logging.getLogger(__name__)
STOP_GRACE_SECONDS = 5.0
HTTP_START_SECONDS = 10.0


class Receiver:
    def __init__(self, settings: ReceiverSettings, landing: str | Path, spool_root: Path) -> None:
        """``landing``: the folder or object-store URL the landing files go to."""
        self.settings, self.landing, self.spool_root = settings, str(landing), spool_root
        self.metrics = ReceiverMetrics()
        self._publisher: Publisher | None = None
        self._spool: Spool | None = None
        self._http: uvicorn.Server | None = None
        self._http_thread: threading.Thread | None = None
        self._grpc: grpc.Server | None = None
        self._adopted: dict[Path, AdoptedFolder] = {}
        self.http_port = self.grpc_port = 0

    @property
    def http_url(self) -> str:
        return f"http://{self.settings.host}:{self.http_port}"

    @property
    def grpc_target(self) -> str:
        return f"{self.settings.host}:{self.grpc_port}"

    def take(self, signal: str, encoding: str, body: bytes) -> tuple[Accepted, Future[None]]:
        """Check ``body`` and queue it for the spool: the future completes once it is durable (at once for a
        request with nothing to keep)."""
        accepted = accept(signal, encoding, body)
        if not accepted.items:
            done: Future[None] = Future()
            done.set_result(None)
            return accepted, done
        return accepted, self._spool.submit(accepted.kind, accepted.payload)

    def ready(self) -> bool:
        return self._spool.backlog_bytes < self.settings.backlog_limit_bytes

    def prometheus(self) -> str:
        spool = self._spool
        return self.metrics.prometheus({
            "backlog_bytes": ("gauge", "Accepted bytes not yet in a landing file.", spool.backlog_bytes),
            "spool_flushes_total": ("counter", "Spool writes (one fsync each, shared by the requests queued "
                                               "together).", spool.flushes),
            "spool_flush_seconds_total": ("counter", "Time spent writing and fsyncing the spool.",
                                          spool.flush_seconds_total),
            "landing_write_failures_total": ("counter", "Landing file writes that failed and were retried.",
                                             self._publisher.failures),
        })

    def start(self) -> Receiver:
        self._publisher = Publisher(self.landing, self._published, self.settings.publish_processes)
        for orphan in adopt_orphans(self.spool_root):
            log.info("publishing %d spool segments left in %s by a receiver that stopped", len(orphan.segments),
                     orphan.folder)
            self._adopted.update({segment.path: orphan for segment in orphan.segments})
            for segment in orphan.segments:
                self._publisher.add(segment)
        self._spool = Spool(self.spool_root, self.settings.rotate_bytes, self.settings.rotate_seconds,
                            self.settings.backlog_limit_bytes, self._publisher.add)
        self._start_grpc()
        self._start_http()
        return self

    def stop(self) -> None:
        """Stop taking requests, let those in flight finish, write everything accepted to landing files.
        Stopping twice is harmless."""
        if self._http is not None:
            self._http.should_exit = True
            self._http_thread.join(STOP_GRACE_SECONDS)
        if self._grpc is not None:
            self._grpc.stop(STOP_GRACE_SECONDS).wait()
        if self._spool is not None:
            self._spool.close()
        if self._publisher is not None:
            self._publisher.close()
        if self._spool is not None:
            self._spool.release()
        self._http = self._grpc = self._spool = self._publisher = None

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _published(self, segment: Segment, requests: int, payload_bytes: int, seconds: float) -> None:
        if requests:
            self.metrics.landed(seconds)
        if segment.path in self._adopted:
            self._adopted.pop(segment.path).published(segment)
        elif self._spool is not None:
            self._spool.published(payload_bytes)

    def _start_grpc(self) -> None:
        self._grpc, self.grpc_port = grpc_server(self)
        self._grpc.start()

    def _start_http(self) -> None:
        listener = socket.socket(socket.AF_INET6 if ":" in self.settings.host else socket.AF_INET)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.settings.host, self.settings.http_port))
        self.http_port = listener.getsockname()[1]
        config = uvicorn.Config(http_app(self), log_level="warning", access_log=False, lifespan="off")
        self._http = uvicorn.Server(config)
        self._http_thread = threading.Thread(target=self._http.run, kwargs={"sockets": [listener]},
                                             name="receiver-http", daemon=True)
        self._http_thread.start()
        deadline = time.monotonic() + HTTP_START_SECONDS
        while not self._http.started:
            if not self._http_thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the OTLP/HTTP server did not start on {self.http_url}")
            time.sleep(0.01)
