import base64
import json
from datetime import UTC, datetime

import pyarrow as pa
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from eval_pipelines import evaluation_export
from eval_pipelines.evaluation_export import judge_records, programmatic_records, write_otlp_logs
from eval_pipelines.schemas import JUDGE_SCORES, PROGRAMMATIC_SCORES

WHEN = datetime(2026, 11, 21, 14, 5, tzinfo=UTC)
TRACE, SPAN = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"


def judged(**row) -> pa.Table:
    base = {"span_id": SPAN, "trace_id": TRACE, "start_time": WHEN, "rubric": "helpfulness", "rubric_version": 1,
            "judge_version": "e4ad1119c1082ac3", "judge_model": "m-2026", "status": "ok", "label": "helpful",
            "score": 5.0, "passed": True, "explanation": "Gives the steps.", "inclusion_probability": 0.25,
            "judged_at": WHEN}
    return pa.Table.from_pylist([{**base, **row}], schema=JUDGE_SCORES)


def attributes(record) -> dict:
    return {a["key"]: next(iter(a["value"].values())) for a in record["attributes"]}


def as_protobuf(line: str) -> ExportLogsServiceRequest:
    """OTLP/JSON writes hex ids where protobuf's JSON mapping wants base64: convert, then parse strictly."""
    request = json.loads(line)
    for resource in request["resourceLogs"]:
        for scope in resource["scopeLogs"]:
            for record in scope["logRecords"]:
                for key in ("traceId", "spanId"):
                    record[key] = base64.b64encode(bytes.fromhex(record[key])).decode()
    return json_format.Parse(json.dumps(request), ExportLogsServiceRequest())


def test_a_verdict_becomes_an_evaluation_event_parented_to_its_span(tmp_path):
    path = tmp_path / "out.jsonl"
    assert write_otlp_logs(judge_records(judged()), path) == 1
    (line,) = path.read_text().splitlines()
    (record,) = as_protobuf(line).resource_logs[0].scope_logs[0].log_records
    assert record.event_name == "gen_ai.evaluation.result"
    assert (record.trace_id.hex(), record.span_id.hex()) == (TRACE, SPAN)
    attrs = attributes(json.loads(line)["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0])
    assert attrs["gen_ai.evaluation.name"] == "helpfulness" and attrs["gen_ai.evaluation.score.value"] == 5.0
    assert attrs["gen_ai.evaluation.score.label"] == "helpful"
    assert attrs["eval_pipelines.judge.version"] == "e4ad1119c1082ac3" and "error.type" not in attrs


def test_failed_judgements_carry_the_error_and_budget_skips_are_not_results():
    rows = pa.concat_tables([judged(status="unparseable", label=None, score=None, passed=None),
                             judged(status="skipped_budget", label=None, score=None, passed=None)])
    (record,) = judge_records(rows)
    assert attributes(record)["error.type"] == "unparseable"


def test_programmatic_scores_export_with_their_evaluator_version(tmp_path, monkeypatch):
    monkeypatch.setattr(evaluation_export, "RECORDS_PER_LINE", 2)
    scores = pa.Table.from_pylist([{"span_id": SPAN, "trace_id": TRACE, "start_time": WHEN, "evaluator": "refusal",
                                    "evaluator_version": 2, "score": 0.0, "label": "refusal", "passed": False}] * 3,
                                  schema=PROGRAMMATIC_SCORES)
    path = tmp_path / "out.jsonl"
    assert write_otlp_logs(programmatic_records(scores), path) == 3
    lines = path.read_text().splitlines()
    assert [len(as_protobuf(line).resource_logs[0].scope_logs[0].log_records) for line in lines] == [2, 1]
    record = json.loads(lines[0])["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]
    assert attributes(record)["eval_pipelines.evaluator.version"] == "2"
