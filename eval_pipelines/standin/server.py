"""A local OpenAI-compatible ``/v1/chat/completions`` server: a STAND-IN, for demos and tests only.

It answers deterministically (a hash of the request picks every choice), so demo traffic and tests
exercise the real ``openai`` client path and the real instrumentation without any network beyond
127.0.0.1. Behaviour is chosen by a :class:`Persona` (what the "model" says) and :class:`Faults`
(latency, error rates, malformed replies). A request may ask for a one-off fault with the header
``X-Standin-Fault`` — the demo uses it to stage incidents.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

STANDIN_LABEL = "eval-pipelines STAND-IN server (not a real model)"

Persona = Callable[[dict[str, Any], "Reply"], None]


@dataclass
class Faults:
    """Random faults, drawn per request from a seeded generator.

    ``error_rate`` is split evenly over ``error_statuses`` (429 replies carry ``Retry-After``);
    ``timeout_rate`` holds the connection for ``hang_s``; ``malformed_rate`` sends a broken HTTP body;
    ``truncated_rate`` cuts the reply's content in half; ``fenced_rate`` wraps it in a Markdown code
    fence; ``refusal_rate`` replaces it with a refusal. The first ``fail_first`` requests all get
    ``error_statuses[0]`` (deterministic retry tests). ``rate_limit_rpm`` enforces a requests-per-minute
    limit like a provider does (a one-second bucket; 429 with ``Retry-After`` and ``retry-after-ms``).
    """

    latency_ms: float = 0.0
    error_rate: float = 0.0
    error_statuses: tuple[int, ...] = (429, 500, 503)
    retry_after_s: float = 1.0
    timeout_rate: float = 0.0
    hang_s: float = 600.0
    malformed_rate: float = 0.0
    truncated_rate: float = 0.0
    fenced_rate: float = 0.0
    refusal_rate: float = 0.0
    fail_first: int = 0
    rate_limit_rpm: int = 0
    seed: int = 0


@dataclass
class Reply:
    """What the persona decided to answer; the server turns it into an OpenAI response body."""

    content: str = ""
    finish_reason: str = "stop"
    tool_calls: list[dict[str, Any]] | None = None


def stable_fraction(*parts: object) -> float:
    """A number in [0, 1) that depends only on ``parts``: deterministic 'randomness'."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def count_tokens(text: str) -> int:
    return max(1, len(text) // 4) if text else 0


def message_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return str(content or "")


def echo_persona(request: dict[str, Any], reply: Reply) -> None:
    user = [m for m in request.get("messages", []) if m.get("role") == "user"]
    reply.content = f"You said: {message_text(user[-1]) if user else ''}"


class StandinServer:
    """Runs the stand-in on 127.0.0.1 in a background thread; use as a context manager."""

    def __init__(self, persona: Persona = echo_persona, faults: Faults | None = None,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        self.persona = persona
        self.faults = faults or Faults()
        self._rng = random.Random(self.faults.seed)
        self._rng_lock = threading.Lock()
        self.requests_received = 0
        self._bucket = (float(self.faults.rate_limit_rpm) / 60, time.monotonic())
        self._httpd = ThreadingHTTPServer((host, port), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> StandinServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def __enter__(self) -> StandinServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _draw(self) -> float:
        with self._rng_lock:
            return self._rng.random()

    def _rate_limited_for(self) -> float:
        """Seconds until the provider-style bucket has room again (0: this request may pass)."""
        per_second = self.faults.rate_limit_rpm / 60
        if per_second <= 0:
            return 0.0
        with self._rng_lock:
            tokens, last = self._bucket
            now = time.monotonic()
            tokens = min(per_second, tokens + (now - last) * per_second)
            if tokens >= 1:
                self._bucket = (tokens - 1, now)
                return 0.0
            self._bucket = (tokens, now)
            return (1 - tokens) / per_second

    def _count_request(self) -> int:
        with self._rng_lock:
            self.requests_received += 1
            return self.requests_received

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
                pass

            def do_GET(self) -> None:
                if self.path.rstrip("/") in ("/health", "/v1/health"):
                    self._send(200, {"status": "ok", "server": STANDIN_LABEL})
                elif self.path.rstrip("/") == "/v1/models":
                    self._send(200, {"object": "list", "data": [{"id": "standin", "object": "model",
                                                                 "owned_by": STANDIN_LABEL}]})
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._send(404, {"error": {"message": "not found"}})
                    return
                try:
                    request = json.loads(body)
                except ValueError:
                    self._send(400, {"error": {"message": "request body is not JSON"}})
                    return
                server._answer(self, request, self.headers.get("X-Standin-Fault", ""))

            def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None,
                      raw: bytes | None = None) -> None:
                data = raw if raw is not None else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

        return Handler

    def _answer(self, handler: Any, request: dict[str, Any], requested_fault: str) -> None:
        faults = self.faults
        if faults.latency_ms:
            time.sleep(faults.latency_ms / 1000)
        number = self._count_request()
        wait = self._rate_limited_for()
        if wait:
            handler._send(429, {"error": {"message": "rate limit reached (stand-in)", "type": "rate_limit"}},
                          {"Retry-After": str(max(1, round(wait))), "retry-after-ms": f"{wait * 1000:.0f}"})
            return
        status = self.faults.error_statuses[0] if number <= self.faults.fail_first else \
            self._error_status(requested_fault)
        if status is not None:
            headers = {"Retry-After": f"{faults.retry_after_s:g}"} if status == 429 else {}
            handler._send(status, {"error": {"message": f"HTTP {status} (stand-in)", "type": "standin_fault"}}, headers)
            return
        if requested_fault == "timeout" or self._draw() < faults.timeout_rate:
            time.sleep(faults.hang_s)
            return
        if requested_fault == "garbage" or self._draw() < faults.malformed_rate:
            handler._send(200, None, raw=b'{"choices": [{"message": ')
            return
        reply = Reply()
        self.persona(request, reply)
        self._distort(reply, requested_fault)
        handler._send(200, self._completion(request, reply))

    def _error_status(self, requested_fault: str) -> int | None:
        named = {"rate_limit": 429, "server_error": 500, "unavailable": 503}
        if requested_fault in named:
            return named[requested_fault]
        draw, statuses = self._draw(), self.faults.error_statuses
        if statuses and draw < self.faults.error_rate:
            return statuses[int(draw / self.faults.error_rate * len(statuses))]
        return None

    def _distort(self, reply: Reply, requested_fault: str) -> None:
        faults = self.faults
        if requested_fault == "malformed_json" or self._draw() < faults.truncated_rate:
            reply.content = reply.content[: max(1, len(reply.content) // 2)]
        elif requested_fault == "fenced" or self._draw() < faults.fenced_rate:
            reply.content = f"Here is my assessment:\n```json\n{reply.content}\n```"
        elif requested_fault == "refusal" or self._draw() < faults.refusal_rate:
            reply.content = "I'm sorry, but I can't help with evaluating this content."

    @staticmethod
    def _completion(request: dict[str, Any], reply: Reply) -> dict[str, Any]:
        prompt = " ".join(message_text(m) for m in request.get("messages", []))
        model = str(request.get("model", "standin"))
        response_id = "chatcmpl-" + hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()[:24]
        message: dict[str, Any] = {"role": "assistant", "content": reply.content}
        if reply.tool_calls:
            message["tool_calls"] = reply.tool_calls
        prompt_tokens, completion_tokens = count_tokens(prompt), count_tokens(reply.content)
        return {
            "id": response_id,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model if "-20" in model else f"{model}-2024-07-18",
            "system_fingerprint": "fp_standin",
            "choices": [{"index": 0, "message": message, "finish_reason": reply.finish_reason,
                         "logprobs": None}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        }
