"""What the judge reads of a candidate's output, per golden item unit."""

from eval_pipelines.judge.conversations import with_last_answer
from eval_pipelines.offline.evaluation import offline_judge_items

REQUEST = {"span_id": "gold-1\x1fm\x1fv8",
           "input_text": "User: Hi\nAssistant: Hello!\nUser: Cancel #77.\nAssistant: No.",
           "output_text": "Done: #77 is cancelled."}


def test_a_conversations_last_answer_is_the_candidates_whatever_its_lines():
    assert with_last_answer(REQUEST["input_text"], "Done.") == "User: Hi\nAssistant: Hello!\nUser: Cancel #77.\n" \
                                                                "Assistant: Done."
    multiline = "User: Steps?\nAssistant: 1. Open\n2. Close"
    assert with_last_answer(multiline, "Click Cancel.") == "User: Steps?\nAssistant: Click Cancel."
    assert with_last_answer("User: Hi", "Hello.") == "User: Hi\nAssistant: Hello."
    # "Assistant: " quoted inside a user's turn is not a turn of its own.
    assert with_last_answer("User: it said Assistant: no", "Sorry.") == "User: it said Assistant: no\nAssistant: Sorry."
    assert with_last_answer("", "Hello.") == "Assistant: Hello."


def test_each_unit_is_judged_as_a_call_and_as_itself():
    output = {"output_text": REQUEST["output_text"], "steps": None}
    (call,) = offline_judge_items({"unit": "call"}, output, REQUEST)
    assert (call.unit, call.input, call.output) == ("call", REQUEST["input_text"], REQUEST["output_text"])
    _, session = offline_judge_items({"unit": "session"}, output, REQUEST)
    assert session.unit == "session" and session.input.endswith("User: Cancel #77.\nAssistant: Done: #77 is cancelled.")
    _, run = offline_judge_items({"unit": "agent_run"}, output, REQUEST)
    assert (run.unit, run.output) == ("agent_run", "Step 1: answered: Done: #77 is cancelled.")
    _, run = offline_judge_items({"unit": "agent_run"}, {**output, "steps": "Step 1: called x()"}, REQUEST)
    assert run.output == "Step 1: called x()"
    (legacy,) = offline_judge_items({}, output, REQUEST)  # items written before units existed are calls
    assert legacy.unit == "call"
