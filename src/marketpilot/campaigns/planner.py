"""`campaign plan "春节前唤醒90天未购的高价值客户，预算5000条短信"`: the LLM drafts a spec from a goal in
Chinese or English; the draft is validated against the spec schema AND the data (segments, RFM
classes and products it names must exist), and the audience size is computed by running the
audience query — never taken from the model. A discount the goal states (8折, 85折, 半价, 20% off) is
read from the goal itself, not from the model's reading of it. Nothing is stored until `campaign create`."""

from __future__ import annotations

import datetime as dt
import re

from pydantic import BaseModel, Field

from marketpilot.campaigns.audience import AudienceSource
from marketpilot.campaigns.spec import CampaignSpec, ChannelName, Goal, parse_spec
from marketpilot.config import Settings
from marketpilot.content.guardrails.facts import extract_claims
from marketpilot.data.store import Store
from marketpilot.errors import UserError, ValidationFailed

MAX_PRODUCTS_IN_PROMPT = 30


class PlanDraft(BaseModel):
    """What the model fills in; everything else in the spec keeps its defaults (holdout, quiet hours…)."""

    name: str = Field(description="short campaign name in the goal's language")
    goal: Goal
    segments: list[str] = Field(default_factory=list, description="segment names from the list, or empty")
    rfm_classes: list[str] = Field(default_factory=list, description="RFM classes from the list, or empty")
    recency_days_min: int | None = Field(default=None, description="only customers silent this many days")
    product_ids: list[str] = Field(default_factory=list, description="product ids from the list, or empty")
    offer: str = Field(default="", description="the offer in words, e.g. 全场8折")
    discount: float | None = Field(default=None, description="fraction off, 0.2 for 8折; null if none")
    channels: list[ChannelName] = Field(min_length=1)
    max_messages: int | None = Field(default=None, description="message budget, null if none")


class Plan(BaseModel):
    spec: CampaignSpec
    audience_size: int
    draft: PlanDraft
    language: str


def detect_language(text: str) -> str:
    return "zh" if re.search(r"[\u4e00-\u9fff]", text) else "en"


def _products(settings: Settings) -> dict[str, str]:
    with Store.open(settings) as store:
        frame = store.query(
            "SELECT product_id, name FROM products ORDER BY product_id LIMIT ?", [MAX_PRODUCTS_IN_PROMPT]
        )
    return dict(zip(frame["product_id"].astype(str), frame["name"].astype(str), strict=True))


def stated_discount(goal: str) -> float | None:
    """The fraction off the goal states, when it states exactly one (8折 → 0.2, 20% off → 0.2)."""
    rates = {float(c.value) for c in extract_claims(goal) if c.role == "rate"}  # type: ignore[arg-type]
    return rates.pop() if len(rates) == 1 else None


def draft_to_spec(draft: PlanDraft, language: str) -> CampaignSpec:
    audience: dict[str, object] = {"segments": draft.segments, "rfm_classes": draft.rfm_classes}
    if draft.recency_days_min:
        audience["recency_days"] = {"min": draft.recency_days_min}
    return parse_spec(
        {
            "name": draft.name,
            "goal": draft.goal,
            "language": language,
            "audience": audience,
            "offer": {
                "description": draft.offer,
                "product_ids": draft.product_ids,
                "discount": draft.discount if draft.discount and 0 < draft.discount < 1 else None,
            },
            # Copy is written at run time by content, per channel brief; here: two variants to test.
            "channels": [
                {"name": c, "variants": [{"key": "A"}, {"key": "B"}]} for c in dict.fromkeys(draft.channels)
            ],
            "caps": {"max_messages": draft.max_messages} if draft.max_messages else {},
        },
        source="planned spec",
    )


def validate_against_data(settings: Settings, spec: CampaignSpec) -> tuple[list[str], int]:
    """Problems with names the data does not have, and the audience size by the real query."""
    source = AudienceSource(settings)
    problems = []
    known_segments = source.segments()
    for name in spec.audience.segments:
        if name not in known_segments:
            problems.append(
                f"audience.segments: no segment named {name!r} (known: {known_segments or 'none'})"
            )
    known_classes = source.rfm_classes()
    for name in spec.audience.rfm_classes:
        if name not in known_classes:
            problems.append(f"audience.rfm_classes: no RFM class {name!r} (known: {known_classes or 'none'})")
    if spec.offer.product_ids:
        with Store.open(settings) as store:
            found = set(
                store.query(
                    "SELECT product_id FROM products WHERE product_id IN (SELECT unnest(?))",
                    [spec.offer.product_ids],
                )["product_id"]
            )
        problems += [f"offer.product_ids: no product {p!r}" for p in spec.offer.product_ids if p not in found]
    size = 0
    if not problems:
        try:
            size = source.count(spec.audience)
        except UserError as exc:
            problems.append(str(exc))
    return problems, size


def plan_campaign(settings: Settings, goal: str, *, client=None, language: str | None = None) -> Plan:  # type: ignore[no-untyped-def]
    from marketpilot.llm import get_client, load_prompt

    if not goal.strip():
        raise UserError(
            "The campaign goal is empty.", hint='marketpilot campaign plan "春节前唤醒90天未购的高价值客户"'
        )
    language = language or detect_language(goal)
    source = AudienceSource(settings)
    products = _products(settings)
    prompt = load_prompt("campaign_plan", language)
    messages = prompt.render(
        goal=goal,
        segments=", ".join(source.segments()) or "(none)",
        rfm_classes=", ".join(source.rfm_classes()) or "(none)",
        products="; ".join(f"{k}: {v}" for k, v in products.items()) or "(none)",
        channels="email, sms, push, webhook, export",
        today=dt.date.today().isoformat(),
    )
    client = client or get_client(settings)
    completion = client.complete(
        messages, schema=PlanDraft, temperature=0.2, max_tokens=400, seed=0, prompt=prompt.ref
    )
    draft: PlanDraft = completion.parsed
    # Small models often leave the discount null or write 8 for 8折; the goal's own figure is the fact.
    stated = stated_discount(goal)
    if stated is not None and draft.discount != stated:
        draft = draft.model_copy(update={"discount": stated})
    spec = draft_to_spec(draft, language)
    problems, size = validate_against_data(settings, spec)
    if problems:
        raise ValidationFailed(
            problems,
            source="planned campaign",
            hint="Rephrase the goal with names from `marketpilot segment` / the catalogue, "
            "or edit the spec YAML and use `campaign create --spec FILE`.",
        )
    return Plan(spec=spec, audience_size=size, draft=draft, language=language)
