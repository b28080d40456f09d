"""Calling an OpenAI-compatible endpoint for many judgements: bounded, paced, retried, broken on outage.

* ``concurrency`` requests in flight at most (an asyncio semaphore);
* client-side pacing for requests and tokens per minute (leaky buckets, ``aiolimiter``);
* retries of transient faults (429, 408/409, 5xx, timeouts, connection errors, garbled bodies) with
  full-jitter exponential backoff, or exactly the server's ``Retry-After`` / ``retry-after-ms``
  when it sends one (``tenacity``); the SDK's own retries are off so every attempt is counted;
* a circuit breaker: after ``breaker_failures`` consecutive transient failures no request is sent for
  ``breaker_reset_s``; then one probe decides whether to close it again;
* a budget gate consulted before each judgement.

Every call ends as a :class:`CallResult`: the batch always completes.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import openai
from aiolimiter import AsyncLimiter
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_random_exponential

StructuredOutput = Literal["json_schema", "json_object", "none"]


@dataclass(frozen=True)
class Endpoint:
    """An OpenAI-compatible chat-completions endpoint and how hard it may be driven."""

    base_url: str
    api_key: str = field(repr=False)
    model: str
    model_version: str
    temperature: float = 0.0
    seed: int | None = 0
    max_tokens: int = 400
    timeout_s: float = 30.0
    structured_output: StructuredOutput = "json_schema"
    concurrency: int = 8
    requests_per_minute: int = 0
    tokens_per_minute: int = 0
    max_attempts: int = 5
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    max_retry_after_s: float = 120.0
    breaker_failures: int = 8
    breaker_reset_s: float = 30.0
    input_usd_per_mtok: float = 0.0
    output_usd_per_mtok: float = 0.0

    def identity(self) -> dict[str, Any]:
        """What makes two judgements comparable: part of every judge version."""
        return {"model": self.model, "model_version": self.model_version, "temperature": self.temperature,
                "seed": self.seed, "max_tokens": self.max_tokens, "structured_output": self.structured_output}

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input_usd_per_mtok + output_tokens * self.output_usd_per_mtok) / 1e6


@dataclass(frozen=True)
class JudgeCall:
    messages: list[dict[str, str]]
    response_format: dict[str, Any] | None
    estimated_tokens: int


@dataclass
class CallResult:
    status: Literal["replied", "error", "circuit_open", "skipped_budget"]
    text: str | None = None
    error: str | None = None
    attempts: int = 0
    latency_ms: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    response_model: str | None = None


@dataclass
class BudgetGate:
    """Calls and tokens still allowed; estimates are reserved up front and settled after the reply."""

    calls: int
    tokens: int

    def admit(self, estimated_tokens: int) -> bool:
        if self.calls <= 0 or self.tokens < estimated_tokens:
            return False
        self.calls -= 1
        self.tokens -= estimated_tokens
        return True

    def settle(self, estimated_tokens: int, used_tokens: int | None) -> None:
        """``used_tokens`` None means nothing was sent: the reservation is returned whole."""
        if used_tokens is None:
            self.calls += 1
            self.tokens += estimated_tokens
        else:
            self.tokens += estimated_tokens - used_tokens


class CircuitOpen(Exception):
    """The endpoint failed repeatedly; requests are held back until the reset time has passed."""


class CircuitBreaker:
    def __init__(self, failures: int, reset_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.failures = failures
        self.reset_s = reset_s
        self.clock = clock
        self.consecutive = 0
        self.opened_at: float | None = None
        self.probing = False
        self.times_opened = 0

    def allow(self) -> bool:
        if self.opened_at is None:
            return True
        if not self.probing and self.clock() - self.opened_at >= self.reset_s:
            self.probing = True
            return True
        return False

    def success(self) -> None:
        self.consecutive, self.opened_at, self.probing = 0, None, False

    def failure(self) -> None:
        self.consecutive += 1
        if self.probing or (self.opened_at is None and self.consecutive >= self.failures):
            self.times_opened += self.opened_at is None
            self.opened_at, self.probing = self.clock(), False


def _bucket(per_minute: int, window_s: float) -> AsyncLimiter | None:
    return AsyncLimiter(per_minute * window_s / 60, window_s) if per_minute > 0 else None


class Pacer:
    """Requests-per-minute and tokens-per-minute leaky buckets (either may be off)."""

    def __init__(self, requests_per_minute: int, tokens_per_minute: int) -> None:
        # The request bucket holds one second's worth (at least one request), so pacing is smooth.
        self.requests = _bucket(requests_per_minute, max(1.0, 60 / requests_per_minute) if requests_per_minute else 1)
        self.tokens = _bucket(tokens_per_minute, 6.0)

    async def wait(self, tokens: int) -> None:
        if self.requests:
            await self.requests.acquire()
        if self.tokens:
            await self.tokens.acquire(min(tokens, self.tokens.max_rate))


def retry_after_seconds(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    try:
        if headers.get("retry-after-ms"):
            return float(headers["retry-after-ms"]) / 1000
        value = headers.get("retry-after")
        if not value:
            return None
        try:
            return float(value)
        except ValueError:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in (408, 409, 429) or exc.status_code >= 500
    return isinstance(exc, openai.APIConnectionError | openai.APIResponseValidationError | json.JSONDecodeError)


def describe(exc: BaseException) -> str:
    if isinstance(exc, openai.APIStatusError):
        detail = exc.body.get("message") if isinstance(exc.body, dict) else None
        return f"HTTP {exc.status_code}: {str(detail or exc.message)[:200]}"
    if isinstance(exc, openai.APITimeoutError):
        return "timeout"
    if isinstance(exc, json.JSONDecodeError):
        return "the endpoint's response body is not valid JSON"
    return f"{type(exc).__name__}: {str(exc)[:200]}"


class _RetryAfterOrBackoff:
    """Waits what the server asked for (plus up to 10% jitter), else full-jitter exponential backoff."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.limit = endpoint.max_retry_after_s
        self.backoff = wait_random_exponential(multiplier=endpoint.backoff_initial_s, max=endpoint.backoff_max_s)

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        asked = retry_after_seconds(exc) if exc else None
        if asked is None:
            return self.backoff(state)
        return min(asked, self.limit) * (1 + 0.1 * random.random())


@dataclass
class RunStats:
    attempts: int = 0
    retries: int = 0
    circuit_opened: int = 0
    http_statuses: dict[str, int] = field(default_factory=dict)


def _tokens_spent(result: CallResult, call: JudgeCall) -> int | None:
    """What a call cost against the budget: None if nothing was sent, the estimate if no usage came back."""
    if result.attempts == 0:
        return None
    return result.input_tokens + result.output_tokens if result.status == "replied" else call.estimated_tokens


class JudgeRunner:
    """Runs a batch of calls against one endpoint; create one per batch (it owns the breaker)."""

    def __init__(self, endpoint: Endpoint, gate: BudgetGate) -> None:
        self.endpoint = endpoint
        self.gate = gate
        self.breaker = CircuitBreaker(endpoint.breaker_failures, endpoint.breaker_reset_s)
        self.stats = RunStats()

    def run(self, calls: Sequence[JudgeCall], progress: Callable[[int, int], None] | None = None) -> list[CallResult]:
        return asyncio.run(self._run_all(calls, progress))

    async def _run_all(self, calls: Sequence[JudgeCall], progress: Callable[[int, int], None] | None
                       ) -> list[CallResult]:
        semaphore = asyncio.Semaphore(self.endpoint.concurrency)
        pacer = Pacer(self.endpoint.requests_per_minute, self.endpoint.tokens_per_minute)
        done = 0
        async with openai.AsyncOpenAI(base_url=self.endpoint.base_url, api_key=self.endpoint.api_key,
                                      max_retries=0, timeout=self.endpoint.timeout_s) as client:
            async def one(call: JudgeCall) -> CallResult:
                nonlocal done
                async with semaphore:
                    result = await self._judge(client, pacer, call)
                done += 1
                if progress:
                    progress(done, len(calls))
                return result

            results = await asyncio.gather(*(one(call) for call in calls))
        self.stats.circuit_opened = self.breaker.times_opened
        return list(results)

    async def _judge(self, client: openai.AsyncOpenAI, pacer: Pacer, call: JudgeCall) -> CallResult:
        if not self.gate.admit(call.estimated_tokens):
            return CallResult("skipped_budget")
        result = CallResult("error")
        try:
            async for attempt in AsyncRetrying(stop=stop_after_attempt(self.endpoint.max_attempts),
                                               wait=_RetryAfterOrBackoff(self.endpoint),
                                               retry=retry_if_exception(is_transient), reraise=True):
                with attempt:
                    await self._attempt(client, pacer, call, result)
        except CircuitOpen:
            result.status, result.error = "circuit_open", "circuit open: the endpoint kept failing"
        except Exception as exc:  # noqa: BLE001 - every failure becomes a row, the batch goes on
            result.status, result.error = "error", describe(exc)
        self.gate.settle(call.estimated_tokens, _tokens_spent(result, call))
        return result

    async def _attempt(self, client: openai.AsyncOpenAI, pacer: Pacer, call: JudgeCall, result: CallResult) -> None:
        if not self.breaker.allow():
            raise CircuitOpen
        await pacer.wait(call.estimated_tokens)
        result.attempts += 1
        self.stats.attempts += 1
        self.stats.retries += result.attempts > 1
        started = time.perf_counter()
        try:
            response = await client.chat.completions.create(**self._request(call))
        except Exception as exc:
            result.latency_ms = (time.perf_counter() - started) * 1000
            self._count_status(exc)
            if is_transient(exc):
                self.breaker.failure()
            raise
        result.latency_ms = (time.perf_counter() - started) * 1000
        self.breaker.success()
        self._count_status(None)
        result.status = "replied"
        result.text = response.choices[0].message.content if response.choices else None
        result.response_model = response.model
        if response.usage:
            result.input_tokens = response.usage.prompt_tokens or 0
            result.output_tokens = response.usage.completion_tokens or 0

    def _count_status(self, exc: BaseException | None) -> None:
        key = str(exc.status_code) if isinstance(exc, openai.APIStatusError) else (
            "200" if exc is None else "timeout" if isinstance(exc, openai.APITimeoutError) else "other")
        self.stats.http_statuses[key] = self.stats.http_statuses.get(key, 0) + 1

    def _request(self, call: JudgeCall) -> dict[str, Any]:
        endpoint = self.endpoint
        request: dict[str, Any] = {"model": endpoint.model, "messages": call.messages,
                                   "temperature": endpoint.temperature, "max_tokens": endpoint.max_tokens}
        if endpoint.seed is not None:
            request["seed"] = endpoint.seed
        if endpoint.structured_output == "json_schema" and call.response_format:
            request["response_format"] = call.response_format
        elif endpoint.structured_output == "json_object":
            request["response_format"] = {"type": "json_object"}
        return request
