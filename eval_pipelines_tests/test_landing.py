import json
import os
import time

from eval_pipelines.parsing.records import HOUR_NS
from eval_pipelines_tests.builders import T0, latest_llm_attributes, span, traces_request, write_lines

HOUR = T0 // HOUR_NS


def llm_at(span_id, start_s):
    return traces_request(span(span_id, start_s=start_s, attributes=latest_llm_attributes()))


def test_new_changed_and_unchanged_files(home, index):
    path = write_lines(home.landing / "x" / "a.jsonl", llm_at("01" * 8, 10), llm_at("02" * 8, 7200 + 10))
    first = index.refresh()
    assert [e.hours for e in first.new] == [(HOUR, HOUR + 2)]
    assert first.hours_to_build() == {HOUR: {first.new[0].sha256}, HOUR + 2: {first.new[0].sha256}}
    assert index.refresh().unchanged == 1 and not index.refresh().touched

    os.utime(path)  # touched, same content: nothing to build
    assert not index.refresh().touched

    write_lines(path, llm_at("03" * 8, 3600 + 10))
    changed = index.refresh().changed
    assert [(old.hours, new.hours) for old, new in changed] == [((HOUR, HOUR + 2), (HOUR, HOUR + 1, HOUR + 2))]


def test_files_still_being_written_wait_for_the_quiet_period(home, index):
    write_lines(home.landing / "fresh.jsonl", llm_at("01" * 8, 10))
    refresh = index.refresh(quiet_seconds=60)
    assert refresh.waiting == ["fresh.jsonl"] and not refresh.new
    assert index.refresh().new


def test_non_landing_files_are_ignored(home, index):
    write_lines(home.landing / "notes.txt", b"hello")
    write_lines(home.landing / ".hidden.jsonl", llm_at("01" * 8, 10))
    assert index.landing_files() == []


def test_scan_budget_leaves_files_for_the_next_call(home, index):
    for n in range(3):
        write_lines(home.landing / f"f{n}.jsonl", llm_at(f"0{n + 1}" * 8, 10))
    time.sleep(0.01)
    assert len(index.refresh(budget_seconds=0).waiting) == 3
    assert len(index.refresh().new) == 3


def test_a_file_name_that_is_not_utf8_is_skipped_and_reported_without_stopping_the_others(home, index):
    odd = os.path.join(os.fsencode(home.landing), b"export-\xff.jsonl")
    with open(odd, "wb") as stream:
        stream.write(json.dumps(llm_at("02" * 8, 10)).encode() + b"\n")
    write_lines(home.landing / "good.jsonl", llm_at("01" * 8, 10))
    for _ in range(2):  # reported on every refresh until renamed
        refresh = index.refresh()
        assert refresh.unusable == [("export-\\xff.jsonl", "the file name is not valid UTF-8: rename the file")]
    assert [entry.path for entry in index.current_entries()] == ["good.jsonl"]
    os.rename(odd, home.landing / "export-renamed.jsonl")
    assert [entry.path for entry in index.refresh().new] == ["export-renamed.jsonl"]
