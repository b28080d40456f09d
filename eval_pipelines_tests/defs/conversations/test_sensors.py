import json

import dagster as dg

from eval_pipelines.defs.conversations.assets import conversation_tables
from eval_pipelines.defs.conversations.sensors import conversations_sensor, hours_to_refresh
from eval_pipelines.defs.ingestion.assets import trace_ingestion
from eval_pipelines.defs.partitions import RANGE_END, RANGE_START
from eval_pipelines.defs.resources import ConversationsConfigResource
from eval_pipelines.hours import hour_index, hour_key
from eval_pipelines_tests.builders import HOUR_KEY, latest_llm_attributes, span, traces_request, write_lines

TRACE_TABLES = ["traces", "trace_quarantine", "feedback_events", "tool_spans"]


def test_the_hours_to_refresh_follow_a_late_hour_and_the_hours_that_ended():
    assert hours_to_refresh([10], ended_through=99, current=100, reach=3) == [9, 11, 12, 13]
    assert hours_to_refresh([], ended_through=97, current=100, reach=3) == [98, 99]
    assert hours_to_refresh([98, 99], ended_through=99, current=100, reach=7) == [97, 98, 99], "never the current hour"


def test_late_traces_of_an_ended_hour_request_the_hours_they_can_change_once(home, resources, instance):
    write_lines(home.landing / "a.jsonl", traces_request(span("01" * 8, attributes=latest_llm_attributes(
        **{"gen_ai.conversation.id": "s1"}))))
    sensor_resources = {**resources, "conversations": ConversationsConfigResource()}
    definitions = dg.Definitions(assets=[trace_ingestion, conversation_tables], resources=sensor_resources)

    def tick(cursor):
        context = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=definitions,
                                          resources=sensor_resources)
        return conversations_sensor(context)

    def ingest():
        assert dg.materialize([trace_ingestion], partition_key=HOUR_KEY, instance=instance, resources=resources,
                              selection=TRACE_TABLES).success

    ingest()
    started = tick(None)
    assert not started.run_requests
    ingest()  # the hour again, as late data makes it
    late = tick(started.cursor)
    (request,) = late.run_requests
    later = [hour_key(hour_index(HOUR_KEY) + n) for n in (1, 6)]  # a turn's session closes within the lookback
    assert (request.tags[RANGE_START], request.tags[RANGE_END]) == tuple(later)
    assert not tick(late.cursor).run_requests
    assert json.loads(late.cursor)["after"] > json.loads(started.cursor)["after"]
