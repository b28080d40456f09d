"""RAG evaluators, for answers with retrieved context: citation checks and lexical grounding."""

from __future__ import annotations

from pydantic import Field, PositiveInt, field_validator

from eval_pipelines.evaluators.base import Batch, Evaluator, Query, Settings, Sli, check_re2, single


class CitationSettings(Settings):
    pattern: str = Field(r"\[([A-Za-z0-9][\w.:/-]{0,63})\]",
                         description="RE2 pattern whose first group is a cited document id.")
    required: bool = Field(False, description="An answer with retrieved context must cite at least one id.")

    @field_validator("pattern")
    @classmethod
    def _one_group(cls, value: str) -> str:
        check_re2(value)
        if "(" not in value.replace(r"\(", "").replace("(?", ""):
            raise ValueError("the citation pattern needs a capture group for the document id")
        return value


class GroundingSettings(Settings):
    min_score: float = Field(0.5, ge=0, le=1)
    """The share of the answer's content words found in the retrieved context needed to pass."""
    min_token_chars: PositiveInt = 3
    """Words shorter than this are not counted."""
    stopwords: list[str] = Field(default_factory=list, description="Words that never count as content.")


WITH_CONTEXT = "answered AND retrieved_context IS NOT NULL AND retrieved_context NOT IN ('', '[]')"
TOKEN_SPLIT = r"[^\p{L}\p{N}]+"


@single("citations")
def citations(batch: Batch, settings: CitationSettings) -> Query:
    return Query(f"""
        WITH c AS (
            SELECT rid, list_distinct(regexp_extract_all(coalesce(output_text, ''), $pattern, 1)) AS cited,
                   list_filter(json_extract_string(retrieved_context, '$[*].id'), lambda i: i IS NOT NULL) AS known
            FROM {batch.view} WHERE {WITH_CONTEXT}),
        u AS (SELECT *, list_filter(cited, lambda i: NOT list_contains(known, i)) AS unknown FROM c)
        SELECT rid,
               CASE WHEN len(cited) = 0 THEN (CASE WHEN $required THEN 0.0 ELSE 1.0 END)
                    ELSE 1.0 - len(unknown) / len(cited) END AS score,
               CASE WHEN len(unknown) > 0 THEN 'unknown_citation'
                    WHEN len(cited) > 0 THEN 'cited'
                    WHEN $required THEN 'missing_citation' ELSE 'uncited' END AS label,
               len(unknown) = 0 AND (len(cited) > 0 OR NOT $required) AS passed,
               CASE WHEN len(unknown) > 0
                    THEN 'cites ' || array_to_string(unknown[1:5], ', ') || ' not among the '
                         || len(known) || ' retrieved document(s)'
                    WHEN len(cited) = 0 AND $required
                    THEN 'no citation of the ' || len(known) || ' retrieved document(s)'
               END AS explanation
        FROM u""", {"pattern": settings.pattern, "required": settings.required})


@single("grounding")
def grounding(batch: Batch, settings: GroundingSettings) -> Query:
    """Share of the answer's distinct content words found in the retrieved text (lower-cased)."""
    return Query(f"""
        WITH t AS (
            SELECT rid,
                   list_distinct(list_filter(string_split_regex(lower(coalesce(output_text, '')), $split),
                       lambda w: length(w) >= $min_chars AND NOT list_contains($stopwords, w)
                                 AND NOT regexp_full_match(w, '[0-9]+'))) AS words,
                   list_distinct(string_split_regex(lower(array_to_string(
                       json_extract_string(retrieved_context, '$[*].content'), ' ')), $split)) AS context
            FROM {batch.view} WHERE {WITH_CONTEXT}),
        s AS (SELECT *, list_filter(words, lambda w: NOT list_contains(context, w)) AS unsupported FROM t)
        SELECT rid,
               CASE WHEN len(words) = 0 THEN NULL ELSE 1.0 - len(unsupported) / len(words) END AS score,
               CASE WHEN len(words) = 0 THEN 'no_content'
                    WHEN score >= $min_score THEN 'grounded'
                    WHEN score >= $min_score / 2 THEN 'partly_grounded' ELSE 'ungrounded' END AS label,
               len(words) = 0 OR score >= $min_score AS passed,
               (len(words) - len(unsupported)) || ' of ' || len(words) || ' content words found in the context'
                   || CASE WHEN len(unsupported) > 0
                           THEN '; not found: ' || array_to_string(list_sort(unsupported)[1:6], ', ') ELSE '' END
                   AS explanation
        FROM s""", {"split": TOKEN_SPLIT, "min_chars": settings.min_token_chars, "min_score": settings.min_score,
                    "stopwords": [word.lower() for word in settings.stopwords] or [""]})


EVALUATORS = [
    Evaluator("citations", 1, "Cited document ids exist among the retrieved ones (and are present if required).",
              citations, CitationSettings),
    Evaluator("grounding", 1, "Share of the answer's content words that occur in the retrieved text.", grounding,
              GroundingSettings, Sli("grounding_rate", "passed")),
]
