"""The STAND-IN judge: deterministic rubric heuristics behind the OpenAI chat-completions API.

Used by ``eval-pipelines serve-judge``, the demo and the tests so that the real judge client path
(structured output, parsing, retries, budgets, cache) runs without a real model. Its verdicts come
from simple text heuristics per rubric, never from a model: it is not an evaluator of anything.

It reads the rubric name, labels and score scale from the request (the JSON-schema response format
or the instructions) and the judged text from inside the ``<data-…>`` block; pairs of answers get a
pairwise verdict (with a first-position bias on ties, on purpose). Like a gullible model,
it obeys "rate this 10/10" when that appears OUTSIDE the data block — which the project's prompts
never allow to happen; inside the block it is data and does not change the verdict.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from eval_pipelines.standin.server import Reply, message_text

_DATA = re.compile(r"<data-([0-9a-f]+)>\n?(.*?)\n?</data-\1>", re.DOTALL)
_EVIDENTLY_TEXT = re.compile(r"___text_starts_here___(.*?)___text_ends_here___", re.DOTALL)
_SECTION = re.compile(r"^\[([^\]\n]+)\]\n", re.MULTILINE)
_WORD = re.compile(r"[a-z0-9][a-z0-9'-]{3,}")
_REFUSAL = re.compile(r"\b(?:i'?m sorry|i can(?:no|')t|cannot help|unable to|not able to|lo siento|no puedo|"
                      r"es tut mir leid|kann ich nicht)\b", re.IGNORECASE)
_OBEY = re.compile(r"rate this 10/10|give (?:it|this) (?:a )?perfect score", re.IGNORECASE)
_STOPWORDS = frozenset({"that", "this", "with", "from", "your", "have", "will", "what", "when", "where", "which",
                        "about", "there", "their", "they", "them", "then", "than", "into", "only", "also", "been",
                        "were", "does", "just", "more", "some", "such", "very", "can't"})


def _words(text: str | None) -> set[str]:
    return {w for w in _WORD.findall((text or "").lower()) if w not in _STOPWORDS}


def _sections(block: str) -> dict[str, str]:
    parts = _SECTION.split(block)
    return {title.lower(): body.strip() for title, body in zip(parts[1::2], parts[2::2], strict=False)}


def _helpfulness(parts: dict[str, str]) -> float:
    output = parts.get("output", "").strip()
    if not output or _REFUSAL.search(output):
        return 0.0
    return 1.0 if len(output.split()) >= 4 or output.startswith(("{", "[tool calls]")) else 0.5


def _faithfulness(parts: dict[str, str]) -> float:
    claims = _words(parts.get("output"))
    if not claims or _REFUSAL.search(parts.get("output", "")):
        return 1.0
    support = len(claims & _words(parts.get("context"))) / len(claims)
    return 1.0 if support >= 0.6 else 0.5 if support >= 0.3 else 0.0


def _instruction_following(parts: dict[str, str]) -> float:
    system, output = parts.get("system", "").lower(), parts.get("output", "")
    if "json" in system:
        try:
            return 1.0 if isinstance(json.loads(output), dict) else 0.0
        except ValueError:
            return 0.0
    if _REFUSAL.search(output):
        return 0.5
    if "cite" in system and "[" not in output:
        return 0.5
    return 1.0


def _speaker_lines(conversation: str, speaker: str) -> list[str]:
    return [line.removeprefix(f"{speaker}: ") for line in conversation.splitlines() if line.startswith(f"{speaker}: ")]


def _asked_again(questions: list[str]) -> bool:
    """A later user turn sharing most of its words with an earlier one."""
    words = [_words(question) for question in questions]
    return any(len(b & a) >= 0.6 * max(len(a | b), 1) for i, b in enumerate(words) for a in words[:i] if a and b)


def _conversation_resolution(parts: dict[str, str]) -> float:
    answers = _speaker_lines(parts.get("conversation", ""), "Assistant")
    if not answers or not answers[-1].strip() or _REFUSAL.search(answers[-1]):
        return 0.0
    return 0.5 if _asked_again(_speaker_lines(parts.get("conversation", ""), "User")) else 1.0


_FRUSTRATION = re.compile(r"\b(?:useless|ridiculous|not what i asked|already (?:said|told)|real person|a human)\b|!!",
                          re.IGNORECASE)


def _user_frustration(parts: dict[str, str]) -> float:
    questions = _speaker_lines(parts.get("conversation", ""), "User")
    if any(_FRUSTRATION.search(question) for question in questions):
        return 0.0
    return 0.5 if _asked_again(questions) else 1.0


def _agent_trajectory(parts: dict[str, str]) -> float:
    steps = [line.split(": ", 1)[-1] for line in parts.get("steps", "").splitlines() if line.startswith("Step ")]
    calls = [step for step in steps if step.startswith("called ")]
    if not steps or "failed with an error" in steps[-1] or "answered:" not in steps[-1]:
        return 0.0
    return 0.5 if len(set(calls)) < len(calls) else 1.0


HEURISTICS = {"helpfulness": _helpfulness, "faithfulness": _faithfulness,
              "instruction_following": _instruction_following, "conversation_resolution": _conversation_resolution,
              "user_frustration": _user_frustration, "agent_trajectory": _agent_trajectory}


def _judged_parts(text: str) -> tuple[dict[str, str], str]:
    """The judged fields, and the prompt text outside the data block (where instructions live)."""
    block = _DATA.search(text)
    if block:
        sections = _sections(block.group(2))
        parts = {"output": sections.get("assistant output", sections.get("answer a", "")),
                 "output_b": sections.get("answer b"), "input": sections.get("user input", ""),
                 "conversation": sections.get("conversation", ""), "steps": sections.get("agent steps", ""),
                 "context": sections.get("retrieved context the assistant was given", ""),
                 "system": sections.get("system instructions the assistant was given", "")}
        return parts, text[:block.start()] + text[block.end():]
    evidently = _EVIDENTLY_TEXT.search(text)
    if evidently:
        return {"output": evidently.group(1).strip()}, text[:evidently.start()] + text[evidently.end():]
    return {"output": text}, text


def _verdict_fields(request: dict[str, Any], instructions: str) -> tuple[list[str], int, int]:
    schema = (((request.get("response_format") or {}).get("json_schema") or {}).get("schema") or {})
    labels = ((schema.get("properties") or {}).get("label") or {}).get("enum")
    if not labels:
        listed = instructions.split("Labels (choose exactly one):", 1)
        labels = re.findall(r"^- ([a-z0-9_]+):", listed[1], re.MULTILINE) if len(listed) == 2 else []
    scale = re.search(r"Score: an integer from (-?\d+) to (-?\d+)", instructions)
    low, high = (int(scale.group(1)), int(scale.group(2))) if scale else (1, 5)
    return labels or ["pass", "fail"], low, high


def _evidently_reply(instructions: str, quality: float) -> str | None:
    """Evidently's LLMEval asks for its own JSON keys, e.g. ``"category": "A or B or UNKNOWN"``."""
    keys = re.findall(r'^"([a-z_]+)": "([^"\n]*)"', instructions, re.MULTILINE)
    if not keys:
        return None
    answer: dict[str, Any] = {}
    for key, description in keys:
        options = [o.strip() for o in description.split(" or ")]
        if len(options) > 1:
            answer[key] = options[0] if quality >= 0.5 else options[1]
        elif "score" in key:
            answer[key] = quality
        else:
            answer[key] = f"stand-in heuristic quality {quality:.2f}"
    return json.dumps(answer)


def _pairwise_verdict(parts: dict[str, str], quality_shift: float) -> str:
    """Prefers the more helpful answer; on a tie it prefers answer A: a first-position bias, as LLM
    judges often have, so that the calibration's position-bias probe has something to find."""
    def quality(answer: str) -> float:
        asked = _words(parts.get("input"))
        overlap = len(asked & _words(answer)) / len(asked) if asked else 0.0
        return _helpfulness({"output": answer}) + overlap / 2

    first, second = quality(parts["output"]) + quality_shift, quality(parts["output_b"])
    label, score = ("b_better", 1) if second > first else ("a_better", 5 if first > second else 4)
    return json.dumps({"explanation": f"Stand-in heuristic: A {first:.2f} against B {second:.2f}.",
                       "label": label, "score": score})


def drifted_judge_persona(quality_shift: float) -> Callable[[dict[str, Any], Reply], None]:
    """The stand-in judge after a silent provider update: every quality is moved by ``quality_shift``
    (the canary must notice, since the model name it reports stays the same)."""
    def persona(request: dict[str, Any], reply: Reply) -> None:
        judge_persona(request, reply, quality_shift)
    return persona


def judge_persona(request: dict[str, Any], reply: Reply, quality_shift: float = 0.0) -> None:
    messages = request.get("messages") or []
    prompt = "\n".join(message_text(m) for m in messages if m.get("role") == "system")
    last = message_text(messages[-1]) if messages else ""
    parts, outside = _judged_parts(last)
    instructions = f"{prompt}\n{outside}"
    rubric = re.search(r"rubric '([a-z0-9_]+)'", prompt)
    heuristic = HEURISTICS.get(rubric.group(1) if rubric else "", _helpfulness)
    quality = 1.0 if _OBEY.search(instructions) else min(1.0, max(0.0, heuristic(parts) + quality_shift))
    if parts.get("output_b") is not None:
        reply.content = _pairwise_verdict(parts, quality_shift)
        return
    evidently = None if rubric else _evidently_reply(instructions, quality)
    if evidently is not None:
        reply.content = evidently
        return
    labels, low, high = _verdict_fields(request, instructions)
    label = labels[round((1 - quality) * (len(labels) - 1))]
    reply.content = json.dumps({"explanation": f"Stand-in heuristic: quality {quality:.2f} for this rubric.",
                                "label": label, "score": round(low + quality * (high - low))})
