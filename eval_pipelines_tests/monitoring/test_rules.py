from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
import yaml

from eval_pipelines.config import ConfigError
from eval_pipelines.monitoring.incidents import attribute, describe, frozen_baselines, track
from eval_pipelines.monitoring.rules import AlertRule, evaluate_rules, load_alert_config
from eval_pipelines.schemas import QUALITY_SLIS

T0 = datetime(2026, 11, 21, 0, tzinfo=UTC)
# Bare rates (confidence 0): these tests are about windows and baselines, the interval test is separate.
RULE = AlertRule.model_validate({"name": "refusal_up", "sli": "refusal_rate", "condition": {"threshold": 0.1},
                                 "windows": {"short": "1h", "long": "3h"}, "min_samples": 50,
                                 "confidence": 0, "keep_firing": "0m"})


def hour_row(hour: int, **row) -> dict:
    start = T0 + timedelta(hours=hour)
    return {"hour_start": start, "window_start": start, "window_minutes": 60, **row}


def history(rates: list[float], n: int = 100, sli: str = "refusal_rate") -> pa.Table:
    """Total-slice rows of one SLI, one per hour from T0."""
    return pa.Table.from_pylist([hour_row(h, dimension="total", slice="total", sli=sli, numerator=rate * n,
                                          denominator=float(n), value=rate)
                                 for h, rate in enumerate(rates)], schema=QUALITY_SLIS)


def at(hour: int) -> datetime:
    """The evaluation at the end of ``hour``."""
    return T0 + timedelta(hours=hour + 1)


def test_a_one_hour_blip_does_not_page_but_a_sustained_breach_does():
    blip = history([0.02, 0.02, 0.02, 0.2, 0.02, 0.02])
    assert not evaluate_rules([RULE], blip, at(3))  # short 20%, long (2+2+20)/3 = 8%: under 10%
    sustained = history([0.02, 0.02, 0.02, 0.2, 0.2, 0.2])
    assert not evaluate_rules([RULE], sustained, at(3))
    (breach,) = evaluate_rules([RULE], sustained, at(4))  # long window (2+20+20)/3 = 14%
    assert breach.short.value == pytest.approx(0.2) and breach.long.value == pytest.approx(0.14)


def test_a_change_within_the_noise_of_a_small_sample_does_not_page_the_same_change_on_a_large_one_does():
    rule = RULE.model_copy(update={"confidence": 0.95, "condition": RULE.condition.model_copy(
        update={"threshold": None, "relative_change": 1.0, "baseline": 180})})
    rates = [0.012, 0.012, 0.012, 0.03, 0.03, 0.03]  # more than doubled
    assert not evaluate_rules([rule], history(rates, n=250), at(5))  # 7.5 refusals in 250: could be 1.2%
    assert evaluate_rules([rule], history(rates, n=5000), at(5))
    assert evaluate_rules([rule.model_copy(update={"confidence": 0})], history(rates, n=250), at(5))


def test_windows_need_enough_samples():
    assert not evaluate_rules([RULE], history([0.5, 0.5, 0.5], n=10), at(2))


def test_relative_change_is_measured_against_the_baseline_before_the_long_window():
    rule = RULE.model_copy(update={"condition": RULE.condition.model_copy(
        update={"threshold": None, "relative_change": 1.0, "baseline": 180}), "direction": "up"})
    rates = [0.03, 0.03, 0.03, 0.05, 0.05, 0.05, 0.11, 0.11, 0.11]
    assert not evaluate_rules([rule], history(rates), at(5))  # 5% is not double of 3%
    (breach,) = evaluate_rules([rule], history(rates), at(8))  # 11% is more than double the 5% before
    assert breach.baseline.value == pytest.approx(0.05)


def test_an_incident_opens_once_stays_open_and_resolves_when_the_breach_clears():
    data = history([0.02] * 3 + [0.3] * 4 + [0.02] * 3)
    state, events = {}, []
    for hour in range(10):
        changes = track(state, evaluate_rules([RULE], data, at(hour), frozen_baselines(state)), at(hour))
        events += [("open", hour) for _ in changes.opened] + [("resolve", hour) for _ in changes.resolved]
        state = changes.open
    assert events == [("open", 3), ("resolve", 7)]  # long window at 3: (2 + 2 + 30) / 3 = 11% > 10%


def test_an_open_incident_is_measured_against_the_baseline_it_started_from():
    rule = RULE.model_copy(update={"condition": RULE.condition.model_copy(
        update={"threshold": None, "relative_change": 1.0, "baseline": 120}), "windows": RULE.windows.model_copy(
        update={"long": 60})})
    data = history([0.02, 0.02, 0.2, 0.2, 0.2, 0.2, 0.2])
    state = {}
    for hour in range(7):
        state = track(state, evaluate_rules([rule], data, at(hour), frozen_baselines(state)), at(hour)).open
    assert list(state) == ["refusal_up|total"]  # a moving baseline would have swallowed it by now


def combination_history(sli: str = "refusal_rate", before: float = 0.02, after: float = 0.5,
                        chat_shares: tuple[int, int] = (400, 400)) -> pa.Table:
    """Rates per route×prompt×model: /orders moves to prompt v7 at hour 3, going from ``before`` to
    ``after``; /chat keeps its rate and its volume goes from ``chat_shares[0]`` to ``chat_shares[1]``."""
    rows = []
    for hour in range(6):
        parts = [("/chat", "v4", chat_shares[hour >= 3], before),
                 ("/orders", "v7" if hour >= 3 else "v6", 200, after if hour >= 3 else before)]
        for route, version, n, rate in parts:
            rows.append(hour_row(hour, dimension="route×prompt_version×model", route=route, prompt_version=version,
                                 model="m", sli=sli, slice=f"route={route}, prompt_version={version}, model=m",
                                 numerator=rate * n, denominator=float(n), value=rate))
            rows.append(hour_row(hour, dimension="prompt_version", prompt_version=version, sli="volume",
                                 slice=f"prompt_version={version}", value=float(n)))
        total, n_total = sum(n * rate for _, _, n, rate in parts), float(sum(n for _, _, n, _ in parts))
        rows.append(hour_row(hour, dimension="total", slice="total", sli=sli, numerator=total, denominator=n_total,
                             value=total / n_total))
    return pa.Table.from_pylist(rows, schema=QUALITY_SLIS)


def test_attribution_names_the_slice_and_the_version_that_appeared():
    data = combination_history()
    rule = RULE.model_copy(update={"windows": RULE.windows.model_copy(update={"long": 60})})
    (breach,) = evaluate_rules([rule], data, at(3))
    attribution = attribute(breach, data)
    assert attribution.slice == "route=/orders, prompt_version=v7, model=m" and attribution.now == 0.5
    assert attribution.new_value == ("prompt_version", "v7", at(2))  # first seen in the hour starting at 03:00
    text = describe(breach, attribution)
    assert "refusal rate overall rose" in text and "since prompt_version v7 appeared at 03:00" in text


def test_a_drop_is_blamed_on_the_version_that_fell_not_on_the_one_it_replaced_or_on_a_mix_change():
    data = combination_history("judge_pass_rate_helpfulness", before=0.98, after=0.6, chat_shares=(400, 200))
    rule = AlertRule.model_validate({"name": "helpful_down", "sli": "judge_pass_rate_helpfulness", "direction": "down",
                                     "condition": {"absolute_change": 0.1, "baseline": "2h"},
                                     "windows": {"short": "1h", "long": "1h"}, "min_samples": 50})
    (breach,) = evaluate_rules([rule], data, at(3))
    attribution = attribute(breach, data)
    assert attribution.slice == "route=/orders, prompt_version=v7, model=m" and attribution.now == pytest.approx(0.6)


def write_rules(tmp_path, data) -> object:
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(("data", "message"), [
    ({"rules": [{"name": "r", "sli": "refusal_rate", "condition": {}}]}, "exactly one of"),
    ({"rules": [{"name": "r", "sli": "refusal_rate", "condition": {"threshold": 0.1, "relative_change": 1}}]},
     "exactly one of"),
    ({"rules": [{"name": "r", "sli": "refusal_rate", "condition": {"threshold": 0.1}, "channels": ["sms"]}]},
     "unknown channel"),
    ({"rules": [{"name": "r", "sli": "refusal_rate", "condition": {"threshold": 0.1},
                 "slice": {"dimension": "country"}}]}, "rules.0.slice.dimension"),
    ({"rules": [{"name": "r", "sli": "refusal_rate", "condition": {"threshold": 0.1},
                 "windows": {"short": "3h", "long": "1h"}}]}, "short window must not be longer"),
    ({"rules": [{"name": "r", "sli": "refusal_rate", "condition": {"threshold": 0.1},
                 "windows": {"short": "an hour"}}]}, "rules.0.windows.short: .*write it like 5m, 1h or 2d"),
    ({"rules": [{"name": "r", "sli": "refusal_rate", "condition": {"threshold": 0.1}}] * 2}, "unique"),
    ({"rules": [{"name": "r", "sli": "happiness", "condition": {"threshold": 0.1}}]},
     r"rules.yaml:\d+: rules.0.sli: unknown SLI 'happiness'"),
])
def test_a_bad_rule_file_is_a_clear_error(tmp_path, data, message):
    with pytest.raises(ConfigError, match=message) as error:
        load_alert_config(write_rules(tmp_path, data), known_slis={"refusal_rate"})
    assert "rules.yaml" in str(error.value)


def test_the_packaged_rules_load():
    assert {rule.name for rule in load_alert_config().rules} >= {"refusal_rate_up", "json_validity_down",
                                                                 "traffic_mix_shift"}


def test_rules_on_one_sli_share_their_incident_so_one_problem_pages_once():
    fast = RULE.model_copy(update={"name": "refusal_fast", "windows": RULE.windows.model_copy(
        update={"short": 60, "long": 60})})
    data = history([0.02] * 3 + [0.3] * 4)
    state, opened = {}, []
    for hour in range(7):
        changes = track(state, evaluate_rules([fast, RULE], data, at(hour), frozen_baselines(state)), at(hour))
        opened += [(breach.rule.name, hour) for breach in changes.opened]
        state = changes.open
    assert opened == [("refusal_fast", 3)]  # the slower rule breaches from hour 4 on, within the same incident


def test_an_incident_hovering_at_the_limit_stays_open_until_the_breach_has_been_gone_for_keep_firing():
    rule = RULE.model_copy(update={"keep_firing": 90, "windows": RULE.windows.model_copy(update={"long": 60})})
    data = history([0.02, 0.3, 0.02, 0.3, 0.02, 0.02, 0.02])
    state, events = {}, []
    for hour in range(7):
        changes = track(state, evaluate_rules([rule], data, at(hour), frozen_baselines(state)), at(hour))
        events += [("open", hour) for _ in changes.opened] + [("resolve", hour) for _ in changes.resolved]
        state = changes.open
    assert events == [("open", 1), ("resolve", 6)]  # clear at 2, back at 3, clear from 4 on: 90 min later at 6


def test_a_baseline_without_a_single_refusal_is_not_doubled_by_the_first_few():
    rule = RULE.model_copy(update={"confidence": 0.95, "min_samples": 50, "condition": RULE.condition.model_copy(
        update={"threshold": None, "relative_change": 1.0, "baseline": 180}), "windows": RULE.windows.model_copy(
        update={"long": 60})})
    quiet = [0.0, 0.0, 0.0]
    assert not evaluate_rules([rule], history([*quiet, 0.02], n=100), at(3))  # 2 in 100 after 0 in 300
    assert evaluate_rules([rule], history([*quiet, 0.2], n=100), at(3))
