import json
import os
import time
from datetime import date

import dagster as dg
import pytest

from eval_pipelines.defs.ingestion import sensors
from eval_pipelines.defs.ingestion.sensors import landing_sensor
from eval_pipelines.defs.partitions import RANGE_END, RANGE_START, hours_of
from eval_pipelines.hours import hour_key
from eval_pipelines.landing import QUIET_SECONDS
from eval_pipelines.parsing.records import HOUR_NS
from eval_pipelines_tests.builders import T0, latest_llm_attributes, span, traces_request, write_lines

HOUR = T0 // HOUR_NS


def settled(path):
    past = time.time() - QUIET_SECONDS - 1
    os.utime(path, (past, past))
    return path


def tick(resources, instance, cursor=None):
    context = dg.build_sensor_context(instance=instance, cursor=cursor,
                                      resources={"lake": resources["lake"], "ingestion": resources["ingestion"]})
    result = landing_sensor(context)
    return result, sorted(key for request in result.run_requests or [] for key in hours_of(request))


def llm_at(span_id, start_s):
    return traces_request(span(span_id, start_s=start_s, attributes=latest_llm_attributes()))


def test_requests_exactly_the_hours_a_new_file_holds(home, resources, instance):
    settled(write_lines(home.landing / "a.jsonl", llm_at("01" * 8, 10), llm_at("02" * 8, 3 * 3600 + 5)))
    result, keys = tick(resources, instance)
    assert keys == [hour_key(HOUR), hour_key(HOUR + 3)]
    assert all(r.run_key for r in result.run_requests)


def test_consecutive_hours_go_in_one_run_of_at_most_a_day(home, resources, instance):
    hours = [*range(30), 32]
    settled(write_lines(home.landing / "a.jsonl", *(llm_at(f"{hour + 1:016x}", hour * 3600 + 5) for hour in hours)))
    result, keys = tick(resources, instance)
    assert keys == [hour_key(HOUR + hour) for hour in hours]
    day, rest, alone = result.run_requests
    assert (day.tags[RANGE_START], day.tags[RANGE_END]) == (hour_key(HOUR), hour_key(HOUR + 23))
    assert (rest.tags[RANGE_START], rest.tags[RANGE_END]) == (hour_key(HOUR + 24), hour_key(HOUR + 29))
    assert alone.partition_key == hour_key(HOUR + 32) and RANGE_START not in alone.tags
    assert len({request.run_key for request in result.run_requests}) == 3


def test_relanding_the_same_file_requests_nothing_new(home, resources, instance):
    path = settled(write_lines(home.landing / "a.jsonl", llm_at("01" * 8, 10)))
    first, _ = tick(resources, instance)
    content = path.read_bytes()
    path.unlink()
    path.write_bytes(content)
    settled(path)
    second, keys = tick(resources, instance, first.cursor)
    assert keys == [] and second.skip_reason is not None
    copy = settled(write_lines(home.landing / "copy" / "a.jsonl", content.rstrip(b"\n")))
    third, keys = tick(resources, instance, second.cursor)
    assert [r.run_key for r in third.run_requests] == [r.run_key for r in first.run_requests]
    assert copy.exists()


def test_late_file_for_an_hour_already_built_requests_it_again(home, resources, instance):
    settled(write_lines(home.landing / "a.jsonl", llm_at("01" * 8, 10)))
    first, _ = tick(resources, instance)
    settled(write_lines(home.landing / "b.jsonl", llm_at("02" * 8, 20)))
    second, keys = tick(resources, instance, first.cursor)
    assert keys == [hour_key(HOUR)]
    assert second.run_requests[0].run_key != first.run_requests[0].run_key


def test_files_being_written_wait(home, resources, instance):
    write_lines(home.landing / "a.jsonl", llm_at("01" * 8, 10))
    result, keys = tick(resources, instance)
    assert keys == [] and "still being written" in result.skip_reason.skip_message


def test_future_hours_wait_in_the_cursor(home, resources, instance):
    future_s = (time.time_ns() - T0) / 1e9 + 3 * 3600
    settled(write_lines(home.landing / "skewed.jsonl", llm_at("01" * 8, future_s)))
    result, keys = tick(resources, instance)
    assert keys == []
    pending = json.loads(result.cursor)["pending"]
    assert len(pending) == 1
    later, keys = tick(resources, instance, cursor=result.cursor)
    assert keys == [] and json.loads(later.cursor)["pending"] == pending


def test_an_hour_a_run_is_writing_waits_and_files_arriving_meanwhile_go_into_one_next_run(home, resources,
                                                                                           instance):
    key = hour_key(HOUR)
    running = dg.DagsterRun(job_name="hourly_evaluation_job", run_id="running-hour", status=dg.DagsterRunStatus.STARTED,
                            tags={"dagster/partition": key})
    instance.add_run(running)
    settled(write_lines(home.landing / "a.jsonl", llm_at("01" * 8, 10)))
    first, keys = tick(resources, instance)
    assert keys == [] and "1 hour(s) wait for a run in progress" in first.skip_reason.skip_message
    settled(write_lines(home.landing / "b.jsonl", llm_at("02" * 8, 20)))
    second, keys = tick(resources, instance, cursor=first.cursor)
    assert keys == [] and list(json.loads(second.cursor)["pending"]) == [str(HOUR)]
    instance.report_run_failed(running)
    third, keys = tick(resources, instance, cursor=second.cursor)
    (request,) = third.run_requests
    assert keys == [key] and json.loads(third.cursor)["pending"] == {}
    assert request.run_config == {"execution": {"config": {"in_process": {}}}}  # no process start per step


@pytest.mark.parametrize("retried", [True, False], ids=["the retry is made", "the daemon missed the failure"])
def test_an_hour_whose_failed_run_is_about_to_be_retried_waits_for_the_retry_or_the_grace_to_end(
        home, resources, instance, monkeypatch, retried):
    key = hour_key(HOUR)
    failed = dg.DagsterRun(job_name="hourly_evaluation_job", run_id="died-mid-hour", status=dg.DagsterRunStatus.FAILURE,
                           tags={"dagster/partition": key, "dagster/will_retry": "true"})
    instance.add_run(failed)
    settled(write_lines(home.landing / "a.jsonl", llm_at("01" * 8, 10)))
    first, keys = tick(resources, instance)
    assert keys == [] and "1 hour(s) wait for a run in progress" in first.skip_reason.skip_message
    if retried:
        instance.add_run_tags(failed.run_id, {"dagster/auto_retry_run_id": "its-retry"})  # the retry, made and done
    else:  # no retry will come: the hour must not wait for one forever
        monkeypatch.setattr(sensors, "RETRY_GRACE_SECONDS", 0)
    second, keys = tick(resources, instance, cursor=first.cursor)
    assert keys == [key]


def test_a_tick_whose_result_was_lost_requests_the_same_runs_again_and_one_saved_nothing(home, resources, instance):
    settled(write_lines(home.landing / "a.jsonl", llm_at("01" * 8, 10), llm_at("02" * 8, 3600 + 10)))
    first, keys = tick(resources, instance)
    # The evaluation timed out or the daemon restarted before saving the tick: the next one gets the old cursor.
    # The same run keys again: Dagster starts a run for a sensor's run key once, so nothing is built twice.
    again, keys_again = tick(resources, instance)
    assert keys_again == keys == [hour_key(HOUR), hour_key(HOUR + 1)]
    assert [r.run_key for r in again.run_requests] == [r.run_key for r in first.run_requests]
    saved, keys_after = tick(resources, instance, again.cursor)
    assert keys_after == [] and saved.skip_reason is not None
    settled(write_lines(home.landing / "b.jsonl", llm_at("03" * 8, 20)))
    assert tick(resources, instance, saved.cursor)[1] == [hour_key(HOUR)]


def test_hours_before_the_first_partition_wait_in_the_cursor_until_it_starts_earlier(home, resources, instance,
                                                                                    monkeypatch, capsys):
    settled(write_lines(home.landing / "a.jsonl", llm_at("01" * 8, 10)))
    monkeypatch.setattr(sensors, "FIRST_DAY", date(2026, 11, 22))
    first, keys = tick(resources, instance)
    assert keys == [] and list(json.loads(first.cursor)["pending"]) == [str(HOUR)]
    assert "1 hour(s) lie before the first partition (2026-11-22)" in capsys.readouterr().err
    monkeypatch.setattr(sensors, "FIRST_DAY", date(2026, 11, 21))
    assert tick(resources, instance, first.cursor)[1] == [hour_key(HOUR)]
