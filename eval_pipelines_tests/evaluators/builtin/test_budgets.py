from eval_pipelines_tests.evaluators.requests import config_yaml, request


def test_budgets_per_route_pass_or_fail(score):
    config = config_yaml(latency_budget={"max_ms": 1000}, routes={
        "/orders": {"latency_budget": {"max_ms": 200}, "token_budget": {"max_output_tokens": 50},
                    "cost_budget": {"max_usd": 0.001}}})
    rows = score([
        request("fast", duration_ms=150.0, route="/orders", output_tokens=10, input_tokens=5, cost_usd=0.0002),
        request("slow", duration_ms=450.0, route="/orders", output_tokens=80, input_tokens=5, cost_usd=0.01),
        request("chat", duration_ms=450.0, route="/chat", output_tokens=80),
        request("unknown", route="/orders"),
    ], config)
    assert [rows[(s, "latency_budget")]["passed"] for s in ("fast", "slow", "chat")] == [True, False, True]
    assert rows[("slow", "latency_budget")]["explanation"] == "450.0 ms (budget 200.0)"
    assert not rows[("slow", "token_budget")]["passed"] and rows[("slow", "token_budget")]["score"] == 85
    assert not rows[("slow", "cost_budget")]["passed"] and rows[("fast", "cost_budget")]["passed"]
    assert ("chat", "token_budget") not in rows and ("unknown", "latency_budget") not in rows
