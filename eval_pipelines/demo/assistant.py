"""The stand-in "model" behind the demo's customer-support assistant.

Deterministic: a hash of the prompt decides. It refuses now and then, and much more often when the
system prompt carries prompt v7's over-strict rule; it answers JSON when asked for JSON; it
sometimes truncates, answers empty, leaks an e-mail address, answers in English to a question in
another language; with retrieved documents it mostly restates and cites them, and now and then
answers from its own canned text instead (ungrounded). Given tools, it is the order agent: it looks the order up
(always with ``lookup_order``'s original arguments) and then answers, or, under prompt ``agent-v2``'s rule, looks it
up again and again and answers without doing anything.
"""

from __future__ import annotations

import json
import re
from typing import Any

from eval_pipelines.standin.server import Reply, message_text, stable_fraction

STRICT_RULE = "identity verification"
LOOP_RULE = "check the order again with lookup_order"
LOOKUPS_UNDER_LOOP_RULE = 3
JSON_INSTRUCTION = "Respond only with JSON"
REFUSALS = {
    "en": ["I'm sorry, but I can't help with that request.", "I cannot assist with that.",
           "Unfortunately I am unable to share that information."],
    "es": ["Lo siento, no puedo ayudar con esa solicitud."],
    "de": ["Es tut mir leid, dabei kann ich nicht helfen."],
}
ANSWERS = {
    "order": "Your order is on its way: it left our warehouse yesterday and should arrive within 2-3 "
             "business days. You can follow it with the tracking link in your confirmation e-mail.",
    "return": "You can return any item within 30 days. Open Orders, choose the item, select 'Return' "
              "and print the prepaid label; the refund reaches your card 5-7 days after we receive it.",
    "charge": "I can see two authorisations on your card; the duplicate is a pending hold that drops off "
              "within 3 business days. If it stays, reply here and we will refund it.",
    "ship": "Yes, we ship there. Standard delivery takes 5-8 business days and express 2-3; the exact "
            "price is shown at checkout.",
    "product": "It is rated IP67, so rain and splashes are fine, and it comes with a two-year warranty.",
    "security": "Please reset your password now and enable two-factor authentication; I have flagged "
                "your account so our security team reviews the recent sign-ins.",
    "other": "Thanks for reaching out. Could you share a few more details so I can help?",
}
LOCALISED = {
    "es": "Gracias por escribirnos. Su solicitud está en curso y le responderemos en 24 horas.",
    "de": "Danke für Ihre Nachricht. Ihre Anfrage wird bearbeitet; wir melden uns innerhalb von 24 Stunden.",
}
_KEYWORDS = [("security", ("hacked", "logged into")), ("charge", ("charged", "charge", "card", "invoice")),
             ("return", ("return", "refund")), ("order", ("order", "pedido", "bestellung")),
             ("ship", ("ship", "carrier", "envío", "liefert")), ("product", ("waterproof", "warranty",
                                                                             "battery", "wasserdicht"))]


def _language(text: str) -> str:
    if re.search(r"[¿¡ñ]|pedido|cobraron|envíos|devuelvo", text):
        return "es"
    if re.search(r"[äöüß]|Bestellung|Warum|Liefert|Wie kann", text):
        return "de"
    return "en"


def _intent(text: str) -> str:
    lowered = text.lower()
    return next((intent for intent, words in _KEYWORDS if any(w in lowered for w in words)), "other")


def _classification(question: str) -> str:
    intent = _intent(question)
    urgency = "high" if re.search(r"unacceptable|money back|stopped working", question) else "normal"
    return json.dumps({"intent": intent, "urgency": urgency, "language": _language(question)})


def _cite(system: str, answer: str) -> str:
    ids = re.findall(r"\[(kb-\d+)\]", system)
    return f"{answer} [{ids[0]}]" if ids else answer


def _from_context(system: str) -> str | None:
    """The first retrieved document, restated and cited: a grounded answer."""
    match = re.search(r"\[(kb-\d+)\] ([^\n]+)", system)
    return f"According to our documentation: {match.group(2)} [{match.group(1)}]" if match else None


def _agent_step(messages: list[dict], system: str, question: str, reply: Reply) -> None:
    """One step of the order agent: look the order up until it has the results it wants, then answer."""
    looked_up = sum(1 for message in messages if message.get("role") == "tool")
    looping = LOOP_RULE in system
    if looked_up < (LOOKUPS_UNDER_LOOP_RULE if looping else 1):
        order = re.search(r"#(\d+)", question)
        reply.content, reply.finish_reason = "", "tool_calls"
        reply.tool_calls = [{"id": f"call_{looked_up + 1}", "type": "function", "function": {
            "name": "lookup_order", "arguments": json.dumps({"order": f"#{order.group(1) if order else '0'}"})}}]
    elif looping:
        reply.content = "Let me check that order once more before I change anything."
    else:
        reply.content = "Done: I have updated the order as you asked, and a confirmation is on its way by e-mail."


def support_persona(request: dict[str, Any], reply: Reply) -> None:
    messages = request.get("messages", [])
    system = " ".join(message_text(m) for m in messages if m.get("role") == "system")
    users = [message_text(m) for m in messages if m.get("role") == "user"]
    question = users[-1] if users else ""
    if request.get("tools"):
        _agent_step(messages, system, question, reply)
        return
    draw = stable_fraction(system, question)
    language = _language(question)
    if JSON_INSTRUCTION in system:
        reply.content = _classification(question)
        return
    strict_refusal = STRICT_RULE in system and _intent(question) == "order" and draw < 0.45
    if strict_refusal or draw < 0.025:
        options = REFUSALS[language]
        reply.content = options[int(draw * 1000) % len(options)]
        return
    grounded = _from_context(system) if draw >= 0.2 else None
    answer = LOCALISED[language] if language != "en" and draw > 0.06 else grounded or ANSWERS[_intent(question)]
    answer = _cite(system, answer) if grounded is None else answer
    if 0.025 <= draw < 0.035:
        reply.content, reply.finish_reason = answer[: len(answer) // 3], "length"
    elif 0.035 <= draw < 0.04:
        reply.content = ""
    elif 0.04 <= draw < 0.05:
        reply.content = answer + " If anything is unclear, write to support.agent.jane@example.com."
    else:
        reply.content = answer
