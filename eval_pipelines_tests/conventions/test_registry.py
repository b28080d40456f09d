"""A trace convention is one module: the engine's tables come from the conventions, in their orders."""

from eval_pipelines.conventions import BY_DETECTION, BY_FIELDS, CONVENTIONS
from eval_pipelines.parsing import conventions as engine


def test_the_packaged_conventions_each_name_a_source_format_and_have_distinct_orders():
    assert {c.name for c in CONVENTIONS} == {"otel_genai", "otel_genai_deprecated", "openinference", "vercel_ai_sdk"}
    assert len({c.detection_order for c in CONVENTIONS}) == len({c.field_order for c in CONVENTIONS}) == 4
    assert BY_DETECTION[0].name == "vercel_ai_sdk" and BY_DETECTION[-1].name == "otel_genai"
    assert BY_FIELDS[0].name == "otel_genai", "standard keys are read first"


def test_every_key_a_convention_reads_into_a_field_stays_out_of_the_attributes():
    for convention in CONVENTIONS:
        read = {key for keys in (*convention.strings.values(), *convention.integers.values()) for key in keys}
        read |= {*convention.finish_reason_keys, *convention.response_id_keys}
        assert read <= convention.consumed, (convention.name, read - convention.consumed)


def test_the_engine_reads_each_field_from_every_convention_standard_keys_first():
    assert engine._STRING_FIELDS["provider"] == ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system")
    assert engine._INTEGER_FIELDS["input_tokens"][0] == "gen_ai.usage.input_tokens"
    assert set(engine._CONSUMED) == set().union(*(c.consumed for c in CONVENTIONS))


def test_a_span_is_claimed_by_the_most_specific_convention_that_recognises_it():
    vercel = {"ai.operationId": "ai.generateText.doGenerate", "gen_ai.system": "openai", "ai.model.id": "gpt-4o"}
    assert engine.span_role(vercel) == "llm"
    assert engine.llm_keys(tuple(vercel)).source_format == "vercel_ai_sdk"
    assert engine.span_role({"ai.operationId": "ai.generateText", "gen_ai.system": "openai"}) == "other"
    assert engine.span_role({"gen_ai.operation.name": "embeddings", "gen_ai.system": "openai"}) == "other"
    assert engine.llm_keys(("gen_ai.system", "gen_ai.request.model")).source_format == "otel_genai_deprecated"
    assert engine.llm_keys(("gen_ai.provider.name", "gen_ai.system")).source_format == "otel_genai"
