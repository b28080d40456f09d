"""The demo day: who asks what, when, on which route and prompt version, and the staged incidents.

Deterministic for a seed. Incidents the later pipeline must catch:
- 09:00-10:00 UTC: a burst of malformed JSON answers on ``/classify`` (a provider-side fault);
- from 14:00: prompt ``v7`` rolls out on ``/orders`` and its new rule makes the model refuse often;
- 06:00-09:00 UTC: prompt ``agent-v2`` is rolled out on ``/agent`` and makes the agent check the order again and
  again without acting; its users ask a second time, until it is rolled back;
- 11:00-13:00 UTC: the order agent's tools change schema under the model (``lookup_order`` takes an integer
  ``order_id``), so the model's arguments stop validating until the change is rolled back;
- from 18:00: the topic mix shifts towards billing disputes and account-security questions.
A quiet day (``incidents=False``) has the same traffic without any of them: the monitoring must stay silent.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime

HOUR_NS = 3_600_000_000_000
SECOND_NS = 1_000_000_000

MALFORMED_JSON_HOURS = range(9, 10)
TOOL_SCHEMA_CHANGE_HOURS = range(11, 13)
PROMPT_ROLLOUT_HOUR = 14
LOOPING_PROMPT_HOURS = range(6, 9)
TOPIC_SHIFT_HOUR = 18

QUESTIONS = {
    "order_status": {
        "en": ["Where is my order {order}?", "My order {order} still hasn't arrived, can you check it?",
               "Can you tell me the delivery date for order {order}?", "Has order {order} shipped yet?"],
        "es": ["¿Dónde está mi pedido {order}?", "Mi pedido {order} no ha llegado todavía."],
        "de": ["Wo ist meine Bestellung {order}?", "Meine Bestellung {order} ist noch nicht angekommen."],
    },
    "returns": {
        "en": ["How do I return the {product} I bought?", "I want a refund for my {product}, it arrived broken.",
               "What is the return window for a {product}?"],
        "es": ["¿Cómo devuelvo el {product} que compré?"],
        "de": ["Wie kann ich den {product} zurückgeben?"],
    },
    "billing": {
        "en": ["Why was I charged twice this month?", "Can I change the card on my account?",
               "I need an invoice for my last purchase."],
        "es": ["¿Por qué me cobraron dos veces?"],
        "de": ["Warum wurde mir zweimal etwas berechnet?"],
    },
    "shipping": {
        "en": ["Do you ship to {country}?", "How much is express shipping to {country}?",
               "Which carrier do you use for {country}?"],
        "es": ["¿Hacen envíos a {country}?"],
        "de": ["Liefert ihr nach {country}?"],
    },
    "product": {
        "en": ["Is the {product} waterproof?", "What warranty does the {product} come with?",
               "How long does the battery of the {product} last?"],
        "es": ["¿El {product} es resistente al agua?"],
        "de": ["Ist der {product} wasserdicht?"],
    },
    "triage": {
        "en": ["Customer email: 'My {product} stopped working after two days, I want my money back.'",
               "Customer email: 'Order {order} is late again, this is unacceptable.'",
               "Customer email: 'How do I update my billing address?'"],
    },
    "billing_dispute": {
        "en": ["I am disputing the charge of {amount} on my card, I never authorised it.",
               "Your company charged me {amount} without permission, I will file a chargeback."],
    },
    "order_change": {
        "en": ["Please cancel order {order}.", "Can you change the delivery address of order {order}?",
               "Add gift wrapping to order {order}, please.", "Is order {order} still cancellable?"],
    },
    "account_security": {
        "en": ["Someone logged into my account from another country, what do I do?",
               "I think my account was hacked, the email was changed."],
    },
}

ROUTES = {
    "order_status": "/orders", "returns": "/returns", "billing": "/chat", "billing_dispute": "/chat",
    "account_security": "/chat", "shipping": "/shipping", "product": "/kb", "triage": "/classify",
    "order_change": "/agent",
}
SERVICE_OF_ROUTE = {
    "/orders": "support-assistant", "/returns": "support-assistant", "/chat": "support-assistant",
    "/classify": "ticket-classifier", "/shipping": "shipping-bot-legacy", "/kb": "kb-search",
    "/agent": "order-agent",
}
BASE_TOPIC_WEIGHTS = {"order_status": 30, "returns": 14, "billing": 12, "shipping": 10, "product": 18,
                      "triage": 14, "billing_dispute": 1, "account_security": 1, "order_change": 16}
SHIFTED_TOPIC_WEIGHTS = {**BASE_TOPIC_WEIGHTS, "billing": 8, "product": 10, "billing_dispute": 18,
                         "account_security": 12}
HOURLY_LOAD = [2, 1, 1, 1, 1, 2, 3, 5, 7, 8, 8, 8, 7, 8, 8, 8, 7, 7, 6, 5, 4, 3, 3, 2]
LANGUAGES = {"en": 85, "es": 8, "de": 7}
PRODUCTS = ["TrailBlazer backpack", "AquaPro smartwatch", "Nimbus headphones", "Zephyr e-bike", "Luma desk lamp"]
COUNTRIES = ["Canada", "Germany", "Spain", "Japan", "Brazil", "Kenya"]


@dataclass(frozen=True)
class PlannedRequest:
    index: int
    sim_ns: int
    service: str
    route: str
    topic: str
    language: str
    question: str
    session_id: str
    user_id: str
    prompt_version: str
    model: str
    feature_flag: str | None
    fault: str | None
    feedback_draw: float
    tools: str | None = None  # the order agent's tool schema version


def tools_version(route: str, hour: int, incidents: bool = True) -> str | None:
    if route != "/agent":
        return None
    return "v2" if incidents and hour in TOOL_SCHEMA_CHANGE_HOURS else "v1"


def loops(route: str, hour: int, incidents: bool) -> bool:
    """The agent prompt that loops is live: its users ask again."""
    return prompt_version(route, hour, incidents) == "agent-v2"


def prompt_version(route: str, hour: int, incidents: bool = True) -> str:
    if route == "/orders":
        return "v7" if incidents and hour >= PROMPT_ROLLOUT_HOUR else "v6"
    if route == "/agent":
        return "agent-v2" if incidents and hour in LOOPING_PROMPT_HOURS else "agent-v1"
    return {"/classify": "triage-v2", "/kb": "kb-v3", "/shipping": "ship-v1"}.get(route, "v4")


def _question(rng: random.Random, topic: str, language: str) -> tuple[str, str]:
    by_language = QUESTIONS[topic]
    language = language if language in by_language else "en"
    template = rng.choice(by_language[language])
    return language, template.format(order=f"#{rng.randint(10000, 99999)}", product=rng.choice(PRODUCTS),
                                     country=rng.choice(COUNTRIES), amount=f"${rng.randint(20, 900)}.00")


def _weighted(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def plan_day(day: date, requests: int, seed: int = 7, incidents: bool = True) -> list[PlannedRequest]:
    """About ``requests`` requests over ``day`` (UTC), grouped into sessions of 1-3 turns, with or
    without the staged incidents."""
    rng = random.Random(seed)
    day_start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * SECOND_NS
    planned: list[PlannedRequest] = []
    session = 0
    while len(planned) < requests:
        session += 1
        hour = rng.choices(range(24), weights=HOURLY_LOAD)[0]
        t = day_start + hour * HOUR_NS + rng.randrange(HOUR_NS - 10 * 60 * SECOND_NS)
        user = f"user-{rng.randint(1, max(50, requests // 3)):05d}"
        language = _weighted(rng, LANGUAGES)
        for turn in range(rng.choices([1, 2, 3], weights=[70, 22, 8])[0]):
            hour = (t - day_start) // HOUR_NS
            shifted = incidents and hour >= TOPIC_SHIFT_HOUR
            topic = _weighted(rng, SHIFTED_TOPIC_WEIGHTS if shifted else BASE_TOPIC_WEIGHTS)
            turn_language, question = _question(rng, topic, language)
            repeats = 2 if rng.random() < 0.04 or loops(ROUTES[topic], hour, incidents) else 1
            for repeat in range(repeats):
                planned.append(_request(rng, len(planned), t, topic, turn_language, question,
                                        f"sess-{seed}-{session:06d}", user, hour, incidents))
                t += rng.randint(5, 30) * SECOND_NS if repeat + 1 < repeats else 0
            t += rng.randint(20, 180) * SECOND_NS
            if turn and t >= day_start + 24 * HOUR_NS:
                break
    planned = [p for p in planned if p.sim_ns < day_start + 24 * HOUR_NS][:requests]
    planned.sort(key=lambda p: p.sim_ns)
    return [PlannedRequest(**{**p.__dict__, "index": i}) for i, p in enumerate(planned)]


def _request(rng: random.Random, index: int, t: int, topic: str, language: str, question: str,
             session_id: str, user_id: str, hour: int, incidents: bool) -> PlannedRequest:
    route = ROUTES[topic]
    fault = None
    if incidents and route == "/classify" and hour in MALFORMED_JSON_HOURS and rng.random() < 0.6:
        fault = "malformed_json"
    elif rng.random() < 0.004:
        fault = "server_error"
    treatment = route == "/chat" and rng.random() < 0.15
    return PlannedRequest(
        index=index, sim_ns=t, service=SERVICE_OF_ROUTE[route], route=route, topic=topic, language=language,
        question=question, session_id=session_id, user_id=user_id,
        prompt_version=prompt_version(route, hour, incidents),
        model="gpt-4.1-mini" if treatment else ("gpt-4o" if route == "/kb" else "gpt-4o-mini"),
        feature_flag="model-ab:treatment" if treatment else ("model-ab:control" if route == "/chat" else None),
        fault=fault, feedback_draw=rng.random(), tools=tools_version(route, hour, incidents))
