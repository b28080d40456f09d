"""A team's own evaluators, as a team would write them in its own package (test data for the custom evaluators)."""

import re

import pyarrow as pa
import pyarrow.compute as pc


def mentions_a_number(request: dict, settings: dict) -> dict:
    """Per row: the answer names an order or tracking number (at least ``min_digits`` digits in a row)."""
    found = re.search(rf"\d{{{settings.get('min_digits', 3)},}}", request["output_text"] or "")
    return {"passed": found is not None, "label": "number" if found else "no_number",
            "explanation": f"found {found.group(0)}" if found else None}


def answer_length_ratio(requests: pa.Table, settings: dict) -> pa.Table:
    """Batch: the answer's length over the question's, as a score."""
    answer = pc.utf8_length(pc.fill_null(requests.column("output_text"), ""))
    question = pc.max_element_wise(pc.utf8_length(pc.fill_null(requests.column("input_text"), "")), 1)
    return pa.table({"rid": requests.column("rid"), "score": pc.divide(pc.cast(answer, pa.float64()), question)})


def fails_on_refunds(request: dict, settings: dict) -> bool:
    if "refund" in (request["input_text"] or "").lower():
        raise RuntimeError("refund questions are not handled yet")
    return True


def returns_nonsense(requests: pa.Table, settings: dict) -> list:
    return [{"rid": -1, "passed": "maybe"}]


NOT_A_FUNCTION = 42
