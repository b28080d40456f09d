import pytest

from eval_pipelines_tests.evaluators.requests import config_yaml, request


@pytest.mark.parametrize(("answer", "refused", "matched"), [
    ("I'm sorry, but I can't help with that request.", True, "I'm sorry, but"),
    ("I’m unable to share that.", True, "I’m unable to"),  # typographic apostrophe
    ("Lo siento, no puedo ayudar con esa solicitud.", True, "Lo siento, no puedo"),
    ("Es tut mir leid, dabei kann ich nicht helfen.", True, "kann ich nicht helfen"),
    ("Désolé, je ne peux pas répondre.", True, "Désolé, je ne peux pas"),
    ("Sorry for the delay: your order ships today.", False, None),
    ("I can't helpfully guess", False, None),  # phrase must end on a word boundary
    ("<script>alert('I cannot help')</script>", True, "I cannot help"),
    ("", False, None),
])
def test_refusal_is_multilingual_and_returns_the_matched_phrase(score, answer, refused, matched):
    row = score([request("s1", answer)], config_yaml(refusal={"phrases": [
        "I'm sorry, but", "I'm unable to", "lo siento, no puedo", "kann ich nicht helfen",
        "désolé, je ne peux pas", "I cannot help"]}))[("s1", "refusal")]
    assert (row["label"], row["passed"]) == (("refusal", False) if refused else ("answer", True))
    assert (row["explanation"] == f'matched "{matched}"') if refused else row["explanation"] is None


def test_refusal_patterns_are_case_insensitive_re2(score):
    config = config_yaml(refusal={"patterns": [r"\bwill not (?:answer|reply)\b"]})
    rows = score([request("a", "I WILL NOT ANSWER that."), request("b", "They will not reply soon?")], config)
    assert rows[("a", "refusal")]["label"] == "refusal" and rows[("b", "refusal")]["label"] == "refusal"


def test_failed_calls_get_no_answer_scores(score):
    rows = score([request("e", None, status_code="ERROR")], config_yaml(empty_answer={}))
    assert rows == {}


@pytest.mark.parametrize(("answer", "tool_calls", "label"), [
    ("", None, "empty"), (None, None, "empty"), (" \n\t\u00a0\u200b\u3000", None, "empty"),
    ("", '[{"name": "lookup_order"}]', "tool_calls_only"), (".", None, "non_empty"),
    ("x" * 200_000, None, "non_empty"),
])
def test_empty_answer_knows_unicode_whitespace_and_tool_calls(score, answer, tool_calls, label):
    row = score([request("s", answer, tool_calls=tool_calls)], config_yaml(empty_answer={}))[("s", "empty_answer")]
    assert row["label"] == label and row["passed"] == (label != "empty")


def test_truncated_answer_reads_finish_reasons_case_insensitively(score):
    rows = score([request("a", "Half an ans", finish_reasons=["LENGTH"]),
                  request("b", "Done.", finish_reasons=["stop"]), request("c", "No reason")],
                 config_yaml(truncated_answer={}))
    assert rows[("a", "truncated_answer")]["explanation"] == "finish_reason LENGTH"
    assert [rows[(s, "truncated_answer")]["passed"] for s in "abc"] == [False, True, True]


def test_lengths_count_code_points_and_words_with_bounds(score):
    config = config_yaml(answer_chars={"min": 3, "max": 10}, answer_words={"max": 2})
    rows = score([request("a", "héllo wörld 👍"), request("b", "ok"), request("c", "don't stop")], config)
    assert rows[("a", "answer_chars")]["score"] == 13 and rows[("a", "answer_chars")]["label"] == "long"
    assert rows[("b", "answer_chars")]["label"] == "short"
    assert rows[("a", "answer_words")]["score"] == 2 and rows[("a", "answer_words")]["passed"]
    assert rows[("c", "answer_words")]["score"] == 2


def test_language_match_flags_an_english_answer_to_a_german_question(score):
    german = "Wo ist meine Bestellung? Sie sollte am Montag ankommen und ist noch nicht da."
    english = "Your order left our warehouse yesterday and should arrive within two days."
    rows = score([request("mismatch", english, german), request("match", english, "Where is my order, it is late?"),
                  request("short", "Ja.", german)], config_yaml(language_match={"min_chars": 20}))
    assert rows[("mismatch", "language_match")]["label"] == "mismatch"
    assert rows[("mismatch", "language_match")]["explanation"] == "question de, answer en"
    assert rows[("match", "language_match")]["passed"] and rows[("match", "language_match")]["score"] == 1.0
    assert ("short", "language_match") not in rows
