import json

from eval_pipelines.parsing.conventions import (
    MAX_TOOL_TEXT_CHARS,
    Lookups,
    event_message,
    llm_fields,
    retrieval_documents,
    span_role,
    tool_fields,
)
from eval_pipelines_tests.builders import latest_llm_attributes


def test_latest_conventions_give_canonical_messages_texts_and_usage():
    fields = llm_fields(latest_llm_attributes(), [])
    assert fields["input_text"] == "Where is my order?"
    assert fields["output_text"] == "It ships today."
    assert fields["system_instructions"] == "Be nice."
    assert json.loads(fields["input_messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "Where is my order?"}]}]
    assert (fields["input_tokens"], fields["output_tokens"]) == (1000, 500)
    assert fields["provider"] == "openai" and fields["operation"] == "chat"
    assert fields["finish_reasons"] == ["stop"]
    assert fields["source_format"] == "otel_genai"
    assert fields["parse_warnings"] == []


def test_deprecated_attributes_and_span_events():
    attrs = {"gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o", "gen_ai.usage.prompt_tokens": 12,
             "gen_ai.usage.completion_tokens": "7"}
    events = [("gen_ai.system.message", {"content": "Be brief."}),
              ("gen_ai.user.message", {"content": "Hi?"}),
              ("gen_ai.choice", {"index": 0, "finish_reason": "length",
                                 "message": {"role": "assistant", "content": "Hel",
                                             "tool_calls": [{"id": "c1", "type": "function", "function": {
                                                 "name": "lookup", "arguments": "{\"id\": 3}"}}]}})]
    fields = llm_fields(attrs, events)
    assert fields["source_format"] == "otel_genai_deprecated"
    assert (fields["input_tokens"], fields["output_tokens"]) == (12, 7)
    assert fields["system_instructions"] == "Be brief." and fields["input_text"] == "Hi?"
    assert fields["output_text"] == "Hel" and fields["finish_reasons"] == ["length"]
    assert json.loads(fields["tool_calls"]) == [{"type": "tool_call", "id": "c1", "name": "lookup",
                                                 "arguments": {"id": 3}}]


def test_openllmetry_indexed_prompt_attributes():
    attrs = {"gen_ai.system": "openai", "gen_ai.prompt.0.role": "user", "gen_ai.prompt.0.content": "Q1",
             "gen_ai.prompt.1.role": "assistant", "gen_ai.prompt.1.content": "A1",
             "gen_ai.prompt.2.role": "user", "gen_ai.prompt.2.content": "Q2",
             "gen_ai.completion.0.role": "assistant", "gen_ai.completion.0.content": "A2"}
    fields = llm_fields(attrs, [])
    assert fields["input_text"] == "Q2" and fields["output_text"] == "A2"
    assert len(json.loads(fields["input_messages"])) == 3


def test_openinference_flattened_messages_tool_calls_and_invocation_parameters():
    attrs = {
        "openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-2024-08-06", "llm.system": "openai",
        "llm.invocation_parameters": json.dumps({"model": "gpt-4o", "temperature": 0.1}),
        "llm.input_messages.0.message.role": "system", "llm.input_messages.0.message.content": "Sys",
        "llm.input_messages.1.message.role": "user",
        "llm.input_messages.1.message.contents.0.message_content.text": "Part one",
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.tool_calls.0.tool_call.id": "t1",
        "llm.output_messages.0.message.tool_calls.0.tool_call.function.name": "search",
        "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments": "{\"q\": \"x\"}",
        "llm.token_count.prompt": 5, "llm.token_count.completion": 2,
        "output.value": json.dumps({"id": "chatcmpl-1", "choices": []}),
    }
    fields = llm_fields(attrs, [])
    assert fields["source_format"] == "openinference"
    assert fields["request_model"] == "gpt-4o" and fields["response_model"] == "gpt-4o-2024-08-06"
    assert fields["system_instructions"] == "Sys" and fields["input_text"] == "Part one"
    assert json.loads(fields["tool_calls"])[0]["name"] == "search"
    assert json.loads(fields["request_params"]) == {"temperature": 0.1}
    assert fields["response_id"] == "chatcmpl-1"


def test_openinference_falls_back_to_input_and_output_values():
    attrs = {"openinference.span.kind": "LLM",
             "input.value": json.dumps({"messages": [{"role": "user", "content": "Q"}]}),
             "output.value": json.dumps({"choices": [{"message": {"role": "assistant", "content": "A"},
                                                      "finish_reason": "stop"}]})}
    fields = llm_fields(attrs, [])
    assert (fields["input_text"], fields["output_text"], fields["finish_reasons"]) == ("Q", "A", ["stop"])


def test_wrong_types_are_kept_as_warnings_not_crashes():
    fields = llm_fields(latest_llm_attributes(**{"gen_ai.usage.input_tokens": "lots",
                                                  "gen_ai.input.messages": "not json"}), [])
    assert fields["input_tokens"] is None
    assert fields["parse_warnings"] == ["gen_ai.usage.input_tokens is not an integer: 'lots'"]
    assert fields["input_text"] == "not json"


def test_span_roles():
    assert span_role({"gen_ai.operation.name": "chat"}) == "llm"
    assert span_role({"gen_ai.system": "openai"}) == "llm"
    assert span_role({"gen_ai.operation.name": "embeddings", "gen_ai.provider.name": "openai"}) == "other"
    assert span_role({"openinference.span.kind": "retriever"}) == "retrieval"
    assert span_role({"openinference.span.kind": "CHAIN"}) == "other"
    assert span_role({"http.route": "/x"}) == "other"
    assert span_role({"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search"}) == "tool"
    assert span_role({"openinference.span.kind": "TOOL"}) == "tool"
    assert span_role({"ai.operationId": "ai.toolCall"}) == "tool"
    assert span_role({"gen_ai.operation.name": "invoke_agent", "gen_ai.provider.name": "openai"}) == "other"


def test_each_conventions_tool_execution_gives_the_tool_its_arguments_and_result():
    genai = tool_fields({"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search",
                         "gen_ai.tool.call.id": "call_1", "gen_ai.tool.call.arguments": '{"q": "x"}',
                         "gen_ai.tool.call.result": "[]", "error.type": "TimeoutError"})
    openinference = tool_fields({"openinference.span.kind": "TOOL", "tool.name": "search",
                                 "tool.parameters": '{"type": "object"}', "input.value": '{"q": "x"}',
                                 "output.value": "[]"})
    vercel = tool_fields({"ai.operationId": "ai.toolCall", "ai.toolCall.name": "search", "ai.toolCall.id": "call_1",
                          "ai.toolCall.args": '{"q": "x"}', "ai.toolCall.result": "[]"})
    assert genai == {"tool_name": "search", "tool_call_id": "call_1", "arguments": '{"q": "x"}', "result": "[]",
                     "source_format": "otel_genai", "error_type": "TimeoutError"}
    assert openinference == {**genai, "tool_call_id": None, "source_format": "openinference", "error_type": None}
    assert vercel == {**genai, "source_format": "vercel_ai_sdk", "error_type": None}


def test_a_tools_long_or_odd_values_are_cut_and_read_as_text():
    fields = tool_fields({"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": 7,
                          "gen_ai.tool.call.arguments": "x" * (MAX_TOOL_TEXT_CHARS + 5), "gen_ai.tool.call.result": ""})
    assert fields["tool_name"] == "7" and fields["result"] is None
    assert fields["arguments"] == "x" * MAX_TOOL_TEXT_CHARS + "… [5 more characters]"


def test_retrieval_documents_from_openinference_and_json():
    oi = {"retrieval.documents.1.document.id": "d2", "retrieval.documents.1.document.content": "two",
          "retrieval.documents.0.document.id": "d1", "retrieval.documents.0.document.content": "one",
          "retrieval.documents.0.document.score": 0.9}
    assert [d["id"] for d in retrieval_documents(oi)] == ["d1", "d2"]
    assert retrieval_documents({"retrieval.documents": json.dumps(["plain text"])})[0]["content"] == "plain text"
    assert retrieval_documents({}) is None


def test_event_message_accepts_json_content_attribute():
    message = event_message("gen_ai.user.message", {"gen_ai.event.content": json.dumps({"content": "hey"})})
    assert message == {"role": "user", "parts": [{"type": "text", "content": "hey"}]}


def test_lookups_take_each_names_first_configured_key_whatever_the_attribute_order():
    lookups = Lookups({"prompt_version": ["app.prompt_version", "llm.prompt_template.version"],
                       "route": ["app.route", "http.route"]})
    attrs = {"llm.prompt_template.version": "v1", "http.route": "/b", "app.prompt_version": "v2", "app.route": "",
             "other": "x"}
    assert lookups.values(attrs) == ["v2", "/b"]  # an empty value falls through
    assert lookups.values({"llm.prompt_template.version": 7}) == ["7", None]
    assert lookups.values({}) is None


def test_spans_with_the_same_keys_are_each_read_by_their_own_values():
    lookups = Lookups({"route": ["app.route", "http.route"]})
    first = {"app.route": "", "http.route": "/b"}
    assert [lookups.values(first), lookups.values({"app.route": "/a", "http.route": "/b"}),
            lookups.values(first)] == [["/b"], ["/a"], ["/b"]]
    one, other = (llm_fields(latest_llm_attributes(**{"gen_ai.request.temperature": t, "team": team}), [])
                  for t, team in ((0.2, "a"), (0.9, "b")))
    assert [json.loads(one["request_params"]), json.loads(other["request_params"])] == [
        {"temperature": 0.2}, {"temperature": 0.9}]
    assert json.loads(other["attributes"]) == {"gen_ai.request.temperature": 0.9, "team": "b"}


def test_the_key_set_memo_stays_bounded_under_ever_new_keys():
    from eval_pipelines.parsing.conventions import ByKeySet

    memo = ByKeySet(len)
    for n in range(3 * ByKeySet.MAX_ENTRIES):
        assert memo.of({f"k{n}": 1, "x": 2}) == 2
    assert len(memo) <= ByKeySet.MAX_ENTRIES
    assert memo.of(dict.fromkeys(range(ByKeySet.MAX_KEYS + 1))) == ByKeySet.MAX_KEYS + 1
