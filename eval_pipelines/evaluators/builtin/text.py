"""Answer-shape evaluators: refusal, empty, truncated, length, and question/answer language match."""

from __future__ import annotations

from functools import lru_cache

import pyarrow as pa
from py3langid.langid import MODEL_FILE, LanguageIdentifier
from pydantic import Field, PositiveInt, model_validator

from eval_pipelines.evaluators.base import (
    Batch,
    Evaluator,
    PhraseSettings,
    Query,
    Settings,
    Sli,
    matched_marker_sql,
    quoted,
    single,
)


class RefusalSettings(PhraseSettings):
    pass


class EmptyAnswerSettings(Settings):
    pass


class TruncatedAnswerSettings(Settings):
    finish_reasons: list[str] = Field(default_factory=lambda: ["length", "max_tokens", "max_output_tokens"])
    """Finish reasons that mean the answer was cut off."""


class LengthSettings(Settings):
    min: PositiveInt | None = None
    """Fewer fails (none: no lower bound)."""
    max: PositiveInt | None = None
    """More fails (none: no upper bound)."""

    @model_validator(mode="after")
    def _ordered(self) -> LengthSettings:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


class LanguageMatchSettings(Settings):
    min_chars: PositiveInt = Field(20, description="Shorter questions or answers are not judged.")
    min_confidence: float = Field(0.8, ge=0, le=1)
    """Below this detection confidence (either text) the call is not judged."""
    languages: list[str] = Field(default_factory=list, description="Candidate ISO 639-1 codes; empty = all 97.")


# Whitespace as users see it: Unicode spaces and the zero-width characters models sometimes emit.
BLANK = r"[\s\p{Z}\x{200B}\x{200C}\x{200D}\x{2060}\x{FEFF}]*"
WORD = r"[\p{L}\p{N}]+(?:['’\-][\p{L}\p{N}]+)*"


@single("refusal")
def refusal(batch: Batch, settings: RefusalSettings) -> Query:
    marker, params = matched_marker_sql("output_text", settings.phrases, settings.patterns)
    return Query(f"""
        SELECT rid, CASE WHEN m IS NULL THEN 0.0 ELSE 1.0 END AS score,
               CASE WHEN m IS NULL THEN 'answer' ELSE 'refusal' END AS label, m IS NULL AS passed,
               CASE WHEN m IS NULL THEN NULL ELSE 'matched ' || {quoted('m')} END AS explanation
        FROM (SELECT rid, {marker} AS m FROM {batch.view} WHERE answered)""", params)


@single("empty_answer")
def empty_answer(batch: Batch, settings: EmptyAnswerSettings) -> Query:
    return Query(f"""
        SELECT rid, CASE WHEN label = 'empty' THEN 1.0 ELSE 0.0 END AS score, label,
               label != 'empty' AS passed,
               CASE label WHEN 'empty' THEN 'no text and no tool calls'
                          WHEN 'tool_calls_only' THEN 'no text, but tool calls' END AS explanation
        FROM (SELECT rid,
                     CASE WHEN NOT regexp_full_match(coalesce(output_text, ''), $blank) THEN 'non_empty'
                          WHEN coalesce(tool_calls, '[]') NOT IN ('', '[]', 'null') THEN 'tool_calls_only'
                          ELSE 'empty' END AS label
              FROM {batch.view} WHERE answered)""", {"blank": BLANK})


@single("truncated_answer")
def truncated_answer(batch: Batch, settings: TruncatedAnswerSettings) -> Query:
    return Query(f"""
        SELECT rid, CASE WHEN hit IS NULL THEN 0.0 ELSE 1.0 END AS score,
               CASE WHEN hit IS NULL THEN 'complete' ELSE 'truncated' END AS label, hit IS NULL AS passed,
               CASE WHEN hit IS NULL THEN NULL ELSE 'finish_reason ' || hit END AS explanation
        FROM (SELECT rid,
                     list_filter(coalesce(finish_reasons, []), lambda r: list_contains($reasons, lower(r)))[1] AS hit
              FROM {batch.view} WHERE answered)""",
                 {"reasons": [reason.lower() for reason in settings.finish_reasons]})


def _length_query(batch: Batch, settings: LengthSettings, measure: str, unit: str,
                  params: dict[str, str] | None = None) -> Query:
    low = "FALSE" if settings.min is None else f"n < {settings.min}"
    high = "FALSE" if settings.max is None else f"n > {settings.max}"
    return Query(f"""
        SELECT rid, n::DOUBLE AS score,
               CASE WHEN {low} THEN 'short' WHEN {high} THEN 'long' ELSE 'ok' END AS label,
               NOT ({low} OR {high}) AS passed, n || ' {unit}' AS explanation
        FROM (SELECT rid, {measure} AS n FROM {batch.view} WHERE answered)""", params or {})


@single("answer_chars")
def answer_chars(batch: Batch, settings: LengthSettings) -> Query:
    return _length_query(batch, settings, "length(coalesce(output_text, ''))", "characters")


@single("answer_words")
def answer_words(batch: Batch, settings: LengthSettings) -> Query:
    return _length_query(batch, settings, "len(regexp_extract_all(coalesce(output_text, ''), $word))", "words",
                         {"word": WORD})


@lru_cache(maxsize=8)
def _identifier(languages: tuple[str, ...], min_confidence: float) -> LanguageIdentifier:
    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    if languages:
        identifier.set_languages(list(languages))
    identifier.min_confidence = min_confidence
    return identifier


def detect_language(text: str, languages: tuple[str, ...] = (), min_confidence: float = 0.0) -> str:
    """The most likely ISO 639-1 language of ``text`` among ``languages`` (all when empty)."""
    return _identifier(languages, min_confidence).classify(text)[0]


@single("language_match")
def language_match(batch: Batch, settings: LanguageMatchSettings) -> pa.Table:
    """py3langid over the distinct texts long enough to tell (a Python call per distinct text)."""
    candidates = tuple(settings.languages)
    rows = batch.fetch("rid, input_text, output_text",
                       f"answered AND length(input_text) >= {settings.min_chars} "
                       f"AND length(output_text) >= {settings.min_chars}")
    cache: dict[str, str] = {}

    def language(text: str) -> str:
        if text not in cache:
            cache[text] = detect_language(text, candidates, settings.min_confidence)
        return cache[text]

    scores, labels, passed, explanations = [], [], [], []
    for question, answer in zip(rows.column("input_text").to_pylist(), rows.column("output_text").to_pylist(),
                                strict=True):
        asked, answered = language(question), language(answer)
        label = "undetermined" if "und" in (asked, answered) else "match" if asked == answered else "mismatch"
        scores.append(None if label == "undetermined" else float(label == "match"))
        labels.append(label)
        passed.append(label != "mismatch")
        explanations.append(f"question {asked}, answer {answered}")
    return pa.table({"rid": rows.column("rid"), "score": pa.array(scores, pa.float64()),
                     "label": labels, "passed": passed, "explanation": explanations})


EVALUATORS = [
    Evaluator("refusal", 1, "The answer declines the request (configured phrases and patterns).", refusal,
              RefusalSettings, Sli("refusal_rate", "failed")),
    Evaluator("empty_answer", 1, "No text (Unicode whitespace only) and no tool calls.", empty_answer,
              EmptyAnswerSettings, Sli("empty_rate", "failed")),
    Evaluator("truncated_answer", 1, "The model stopped on a token limit (finish reason).", truncated_answer,
              TruncatedAnswerSettings),
    Evaluator("answer_chars", 1, "Answer length in characters (code points), within optional bounds.",
              answer_chars, LengthSettings),
    Evaluator("answer_words", 1, "Answer length in words (letter/digit runs), within optional bounds.",
              answer_words, LengthSettings),
    Evaluator("language_match", 1, "The answer is in the question's language (py3langid).", language_match,
              LanguageMatchSettings),
]
