"""Landing files in an object store: the receiver uploads there, a Collector's S3 exporter writes there, and
the index and the ingestion read them through a local mirror, each object downloaded once per machine."""

import gzip
import time
import uuid

import orjson
import pytest

from eval_pipelines.home import Home
from eval_pipelines.ingestion import build_hours
from eval_pipelines.landing import LandingIndex
from eval_pipelines.landing_stores import landing_files
from eval_pipelines.parsing.records import HOUR_NS
from eval_pipelines_tests.builders import T0, latest_llm_attributes, span, traces_request
from eval_pipelines_tests.receiver.conftest import post, start_receiver

HOUR = T0 // HOUR_NS
# Where the Collector's awss3exporter puts an object (its default partition format), compressed.
COLLECTOR_KEY = "otel/year=2026/month=11/day=21/hour=14/minute=01/traces_4815162342.json.gz"


@pytest.fixture
def remote(s3_lake_url: str, home: Home) -> Home:
    """A home whose lake and landing are both in the bucket: nothing shared between machines but the store."""
    bucket = s3_lake_url.removeprefix("s3://").split("/")[0]
    return Home(home.root, s3_lake_url, f"s3://{bucket}/landing")


def _index(home: Home, mirror_name: str = "landing-mirror") -> LandingIndex:
    return LandingIndex(landing_files(home.landing_location, home.root / mirror_name), home.landing_index_location)


def _llm_request(span_id: str) -> dict:
    return traces_request(span(span_id, attributes=latest_llm_attributes()))


def _rows(index: LandingIndex, settings, prices, con) -> list[dict]:
    return [row for built in build_hours(index, HOUR, HOUR, settings, prices, con) for row in built.traces.to_pylist()]


def test_the_receiver_and_a_collector_land_in_the_bucket_and_every_call_becomes_a_row(remote, settings, prices,
                                                                                       con):
    receiver = start_receiver(remote)
    try:
        for number in (1, 2):
            assert post(f"{receiver.http_url}/v1/traces", orjson.dumps(_llm_request(f"{number:016x}")))[0] == 200
    finally:
        receiver.stop()
    store = landing_files(remote.landing_location, remote.landing_mirror)
    store.fs.pipe_file(f"{store.root}/{COLLECTOR_KEY}", gzip.compress(orjson.dumps(_llm_request(f"{3:016x}"))))

    index = _index(remote)
    refresh = index.refresh()
    assert len(refresh.new) == 2 and HOUR in refresh.hours_to_build()
    assert sorted(row["span_id"] for row in _rows(index, settings, prices, con)) == [f"{n:016x}" for n in (1, 2, 3)]
    assert index.refresh().unchanged == 2, "indexed objects are not scanned again"


def test_a_machine_without_the_mirror_reads_the_shared_index_and_downloads_only_the_hours_it_builds(
        remote, settings, prices, con):
    store = landing_files(remote.landing_location, remote.landing_mirror)
    store.fs.pipe_file(f"{store.root}/now.jsonl", orjson.dumps(_llm_request("11" * 8)) + b"\n")
    later = traces_request(span("22" * 8, start_s=3 * 3600, attributes=latest_llm_attributes()))
    store.fs.pipe_file(f"{store.root}/later.jsonl", orjson.dumps(later) + b"\n")
    _index(remote).refresh()  # the sensor, on its machine

    step = _index(remote, mirror_name="another-machine")  # a run's step, on a machine of its own
    assert [row["span_id"] for row in _rows(step, settings, prices, con)] == ["11" * 8]
    assert [p.name for p in (remote.root / "another-machine").rglob("*") if p.is_file()] == ["now.jsonl"]
    mirrored = remote.root / "another-machine" / "now.jsonl"
    downloaded_at = mirrored.stat().st_ctime_ns
    time.sleep(0.01)
    _rows(step, settings, prices, con)
    assert mirrored.stat().st_ctime_ns == downloaded_at, "an object already mirrored is not downloaded again"


def test_a_replaced_object_is_downloaded_and_scanned_again(remote, settings, prices, con):
    store = landing_files(remote.landing_location, remote.landing_mirror)
    store.fs.pipe_file(f"{store.root}/a.jsonl", orjson.dumps(_llm_request("11" * 8)) + b"\n")
    index = _index(remote)
    index.refresh()
    time.sleep(1.1)  # object stores keep modification times in seconds
    store.fs.pipe_file(f"{store.root}/a.jsonl", orjson.dumps(_llm_request("33" * 8)) + b"\n")
    assert len(index.refresh().changed) == 1
    assert [row["span_id"] for row in _rows(index, settings, prices, con)] == ["33" * 8]


def test_an_object_store_refusing_uploads_fills_the_backlog_and_loses_nothing_acknowledged(s3_lake_url, home):
    bucket = f"landing-{uuid.uuid4().hex[:12]}"  # not created yet: every upload fails
    remote = Home(home.root, s3_lake_url, f"s3://{bucket}/landing")
    receiver = start_receiver(remote, backlog_limit_bytes=1000, rotate_seconds=0.05)
    try:
        acknowledged = [n for n in range(1, 4)
                        if post(f"{receiver.http_url}/v1/traces", orjson.dumps(_llm_request(f"{n:016x}")))[0] == 200]
        assert acknowledged and len(acknowledged) < 3, "the backlog refuses what the store cannot take"
        store = landing_files(remote.landing_location, remote.landing_mirror)
        store.fs.mkdir(bucket)
        deadline = time.monotonic() + 30
        while post(f"{receiver.http_url}/v1/traces", orjson.dumps(_llm_request(f"{9:016x}")))[0] != 200:
            assert time.monotonic() < deadline, "the backlog never drained"
            time.sleep(0.2)
    finally:
        receiver.stop()
    landed = [listed.relative for listed in store.listing()]
    spans = {orjson.loads(line)["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["spanId"]
             for relative in landed for line in store.fs.cat_file(f"{store.root}/{relative}").splitlines()}
    assert spans == {f"{n:016x}" for n in [*acknowledged, 9]}
