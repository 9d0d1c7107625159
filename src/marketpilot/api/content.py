"""/v1/copy: the brief for a product × segment × channel, guardrail-checked variants, and checks."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from marketpilot.api.auth import app_settings
from marketpilot.config import Settings
from marketpilot.content.briefs import (
    MAX_PHRASE,
    MAX_SHOP_NAME,
    MAX_WORDS,
    Audience,
    BrandVoice,
    Brief,
    Channel,
    Language,
    Phrase,
    ProductFacts,
)
from marketpilot.content.generate import VariantSet
from marketpilot.content.guardrails import CheckResult
from marketpilot.content.service import BriefExtras
from marketpilot.errors import ProviderError

router = APIRouter(prefix="/copy", tags=["copy"])

# Copy to check: bounded so that one request cannot hold a worker for minutes; the longest channel
# takes 2,000 characters, and longer text is still checked (and fails its length rule).
MAX_CHECK_CHARS = 50_000
# A product id is looked up, not read: 100 characters hold any SKU. Bounded, it is also refused with a
# 422 when it is not Unicode (a lone surrogate, \ud800), where the store's query answered 500.
MAX_PRODUCT_ID = 100


class BriefRequest(BaseModel):
    """What `copy brief` takes as flags; the facts come from the store, the persona from `segment`."""

    # /v1/segments numbers the segments (`"segment": 1`) and shops number their products: 1 and 10001
    # mean the labels and ids "1" and "10001", as in a campaign spec's audience.
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    product_id: str = Field(max_length=MAX_PRODUCT_ID)
    # the prompt names it; a persona name is at most 40 characters (segments/personas.py)
    segment: str = Field(
        default="all", max_length=MAX_PHRASE, description="Segment number or persona name; 'all' for none."
    )
    channel: Channel = "sms"
    language: Language = "zh"
    extras: BriefExtras = Field(
        default_factory=BriefExtras,
        description="Promotion (promo_price, discount, offer), season, shop_name, required/forbidden words.",
    )


class GenerateRequest(BriefRequest):
    n: int = Field(default=5, ge=1, le=20, description="Variants to generate (one LLM call).")


# A brief posted for a check is the client's text end to end: every field is held to what a real brief
# holds, so that one request cannot make the facts and brand rules scan megabytes. A brief `copy brief`
# built from the store must pass as it is, so the store's own text gets room: a product name or title
# (Taobao's are at most 60 characters, Amazon's 200), a category path, an attribute's value, a selling
# point and a tone each take 500; 100 attributes or selling points. A persona is what `segment` writes,
# at most 600 characters (segments/personas.py); the phrases are the brief extras' own limits.
MAX_NAME = 500
MAX_PERSONA = 600
MAX_FACTS = 100
Name = Annotated[str, Field(max_length=MAX_NAME)]


class ProductFactsToCheck(ProductFacts):
    product_id: str | None = Field(default=None, max_length=MAX_PRODUCT_ID)
    name: str = Field(max_length=MAX_NAME)
    category: str | None = Field(default=None, max_length=MAX_NAME)
    attributes: dict[Name, Name] = Field(default_factory=dict, max_length=MAX_FACTS)
    selling_points: list[Name] = Field(default_factory=list, max_length=MAX_FACTS)


class AudienceToCheck(Audience):
    segment: str = Field(default="all", max_length=MAX_PHRASE)
    persona: str | None = Field(default=None, max_length=MAX_PERSONA)


class BrandVoiceToCheck(BrandVoice):
    shop_name: str | None = Field(default=None, max_length=MAX_SHOP_NAME)
    required_words: list[Phrase] = Field(default_factory=list, max_length=MAX_WORDS)
    forbidden_words: list[Phrase] = Field(default_factory=list, max_length=MAX_WORDS)
    tone: str | None = Field(default=None, max_length=MAX_NAME)


class BriefToCheck(Brief):
    """A `Brief` with every text field bounded (the offer's coupon code already is)."""

    product: ProductFactsToCheck
    audience: AudienceToCheck = Field(default_factory=AudienceToCheck)
    goal: str = Field(default="conversion", max_length=MAX_PHRASE)
    tone: str | None = Field(default=None, max_length=MAX_NAME)
    brand: BrandVoiceToCheck = Field(default_factory=BrandVoiceToCheck)
    season: str | None = Field(default=None, max_length=MAX_PHRASE)


class CheckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=MAX_CHECK_CHARS)
    brief: BriefToCheck
    channel: Channel | None = Field(default=None, description="Default: the brief's channel.")


def _brief(request: BriefRequest, settings: Settings) -> Brief:
    from marketpilot.content.service import brief_for

    return brief_for(
        settings, request.product_id, request.segment, request.channel, request.language, request.extras
    )


@router.post("/brief")
def brief(request: BriefRequest, settings: Annotated[Settings, Depends(app_settings)]) -> Brief:
    """The brief `generate` would use: catalogue facts, review selling points, persona, offer. No LLM."""
    return _brief(request, settings)


@router.post("/generate")
def generate(request: GenerateRequest, settings: Annotated[Settings, Depends(app_settings)]) -> VariantSet:
    """N guardrail-checked variants (one LLM call, at most one repair); what failed is in `dropped`."""
    from marketpilot.content.service import generate_for_product

    result = generate_for_product(
        settings,
        request.product_id,
        request.segment,
        request.channel,
        request.n,
        request.language,
        request.extras,
    )
    if result.error:
        raise ProviderError(f"Generation failed: {result.error}")
    return result


@router.post("/check")
def check(request: CheckRequest) -> CheckResult:
    """Every guardrail on the text for the brief: facts, 广告法 words, length, PII, brand words. No LLM."""
    from marketpilot.content.channels import channel_specs
    from marketpilot.content.guardrails import check_copy

    return check_copy(request.text, request.brief, request.channel, specs=channel_specs())
