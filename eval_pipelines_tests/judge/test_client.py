"""The judge client against the stand-in server with faults: the batch always completes."""

import time

import pytest

from eval_pipelines.judge.client import BudgetGate, CircuitBreaker, JudgeCall, JudgeRunner
from eval_pipelines.judge.prompts import JudgeItem, judge_messages, verdict_schema
from eval_pipelines_tests.judge.conftest import endpoint_for, judge_server

UNLIMITED = BudgetGate(calls=10_000, tokens=10**9)


@pytest.fixture
def calls(rubrics):
    rubric = rubrics["helpfulness"]
    return [JudgeCall(judge_messages(rubric, JudgeItem(f"s{i}", "How do I reset my password?",
                                                       "Open Settings and choose Reset password."), 1000),
                      verdict_schema(rubric), 500) for i in range(12)]


def run(server, calls, gate=UNLIMITED, **overrides):
    runner = JudgeRunner(endpoint_for(server, **overrides), gate)
    return runner.run(calls), runner.stats


def test_a_429_is_retried_after_the_time_the_server_asks_for(calls):
    with judge_server(fail_first=2, error_statuses=(429,), retry_after_s=0.4) as server:
        started = time.monotonic()
        (result,), stats = run(server, calls[:1])
        elapsed = time.monotonic() - started
    assert result.status == "replied" and result.attempts == 3 and stats.http_statuses == {"429": 2, "200": 1}
    assert elapsed >= 0.8  # two waits of Retry-After 0.4 s, never shorter


def test_server_errors_are_retried_with_backoff_until_attempts_run_out(calls):
    with judge_server(error_rate=1.0, error_statuses=(503,)) as server:
        (result,), _ = run(server, calls[:1], max_attempts=3)
        assert server.requests_received == 3
    assert (result.status, result.attempts, result.error) == ("error", 3, "HTTP 503: HTTP 503 (stand-in)")


def test_a_request_that_never_answers_times_out_and_the_batch_goes_on(calls):
    with judge_server(timeout_rate=1.0, hang_s=3) as server:
        started = time.monotonic()
        results, _ = run(server, calls[:3], timeout_s=0.2, max_attempts=2)
        assert time.monotonic() - started < 2.5
    assert [(r.status, r.error, r.attempts) for r in results] == [("error", "timeout", 2)] * 3


def test_a_garbled_response_body_is_retried_then_reported(calls):
    with judge_server(malformed_rate=1.0) as server:
        (result,), _ = run(server, calls[:1], max_attempts=2)
    assert (result.status, result.attempts) == ("error", 2) and "not valid JSON" in result.error


def test_the_circuit_opens_after_consecutive_failures_and_holds_requests_back(calls):
    with judge_server(error_rate=1.0, error_statuses=(500,)) as server:
        results, stats = run(server, calls, max_attempts=1, concurrency=1, breaker_failures=3)
        sent = server.requests_received
    assert sent == 3 and stats.circuit_opened == 1
    assert [r.status for r in results] == ["error"] * 3 + ["circuit_open"] * 9
    assert all(r.attempts == 0 for r in results[3:])


def test_an_open_circuit_lets_one_probe_through_after_the_reset_time():
    now = [0.0]
    breaker = CircuitBreaker(failures=2, reset_s=10, clock=lambda: now[0])
    breaker.failure()
    breaker.failure()
    assert not breaker.allow()
    now[0] = 10.0
    assert breaker.allow() and not breaker.allow()  # one probe only
    breaker.failure()  # the probe failed: open again
    now[0] = 15.0
    assert not breaker.allow()
    now[0] = 20.0
    assert breaker.allow()
    breaker.success()
    assert breaker.allow() and breaker.allow()


def test_the_budget_gate_stops_sending_and_marks_the_rest(server, calls):
    results, _ = run(server, calls, gate=BudgetGate(calls=5, tokens=10**9), concurrency=1)
    assert [r.status for r in results] == ["replied"] * 5 + ["skipped_budget"] * 7
    assert server.requests_received == 5


def test_a_token_budget_counts_what_the_replies_used(server, calls):
    gate = BudgetGate(calls=100, tokens=2000)
    results, _ = run(server, calls, gate=gate, concurrency=1)
    replied = [r for r in results if r.status == "replied"]
    assert 1 <= len(replied) < len(calls)
    assert gate.tokens == 2000 - sum(r.input_tokens + r.output_tokens for r in replied)


def test_requests_are_paced_to_the_requests_per_minute_limit(server, calls):
    started = time.monotonic()
    results, _ = run(server, calls, requests_per_minute=300, concurrency=12)  # 5 per second
    assert all(r.status == "replied" for r in results)
    assert time.monotonic() - started >= 1.2  # 12 calls: a burst of 5, then 7 more at 5/s
