import json

import pytest

from eval_pipelines_tests.evaluators.requests import config_yaml, request

CONTEXT = json.dumps([
    {"id": "kb-1", "content": "The AquaPro smartwatch is rated IP67 and carries a two-year warranty."},
    {"id": "kb-2", "content": "Returns are accepted within 30 days of delivery."},
])


def test_citations_must_exist_among_retrieved_documents(score):
    config = config_yaml(citations={"required": True})
    rows = score([request("ok", "It is rated IP67 [kb-1].", retrieved_context=CONTEXT),
                  request("bad", "See [kb-1] and [kb-9].", retrieved_context=CONTEXT),
                  request("none", "It is rated IP67.", retrieved_context=CONTEXT),
                  request("no_context", "It is rated IP67.")], config)
    assert (rows[("ok", "citations")]["label"], rows[("ok", "citations")]["passed"]) == ("cited", True)
    assert rows[("bad", "citations")]["label"] == "unknown_citation" and rows[("bad", "citations")]["score"] == 0.5
    assert rows[("bad", "citations")]["explanation"] == "cites kb-9 not among the 2 retrieved document(s)"
    assert rows[("none", "citations")]["label"] == "missing_citation"
    assert ("no_context", "citations") not in rows


def test_uncited_answers_pass_where_citations_are_optional(score):
    rows = score([request("none", "Rated IP67.", retrieved_context=CONTEXT)], config_yaml(citations={}))
    assert rows[("none", "citations")]["label"] == "uncited" and rows[("none", "citations")]["passed"]


def test_grounding_is_the_share_of_content_words_found_in_the_context(score):
    config = config_yaml(grounding={"min_score": 0.6, "stopwords": ["the", "and", "has", "for"]})
    rows = score([
        request("grounded", "The smartwatch is rated IP67 and has a two-year warranty.", retrieved_context=CONTEXT),
        request("invented", "The smartwatch survives deep-sea diving for eleven hours.", retrieved_context=CONTEXT),
        request("numbers", "30 30 30", retrieved_context=CONTEXT),
    ], config)
    grounded, invented = rows[("grounded", "grounding")], rows[("invented", "grounding")]
    assert grounded["score"] == 1.0 and grounded["label"] == "grounded"
    # smartwatch found; survives, deep, sea, diving, eleven, hours not: 1 of 7.
    assert invented["score"] == pytest.approx(1 / 7) and invented["label"] == "ungrounded" and not invented["passed"]
    assert invented["explanation"].startswith("1 of 7 content words found in the context; not found: deep, diving")
    assert rows[("numbers", "grounding")]["label"] == "no_content" and rows[("numbers", "grounding")]["passed"]


def test_grounding_survives_unicode_and_malformed_context(score):
    context = json.dumps([{"id": "d", "content": "Größe: Straße Ünïcödé"}, {"no": "content"}])
    rows = score([request("u", "Straße und GRÖSSE", retrieved_context=context)], config_yaml(grounding={}))
    assert rows[("u", "grounding")]["score"] == pytest.approx(1 / 3)  # "straße" found; "und", "grösse" not
