"""What the `copy` commands (and the API) call: briefs from the store and segment outputs, then
generation, checking and rendering."""

from __future__ import annotations

import json

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from marketpilot.config import Settings
from marketpilot.content.briefs import (
    CHANNELS,
    MAX_SHOP_NAME,
    MAX_WORDS,
    Audience,
    BrandVoice,
    Brief,
    Channel,
    Language,
    Offer,
    Phrase,
    ProductFacts,
)
from marketpilot.content.generate import VariantSet, generate_variants
from marketpilot.errors import NotFoundError, UserError, ValidationFailed


class BriefExtras(BaseModel):
    """What the store does not know about a product and `copy generate` takes as flags: the promotion
    and the brand's do/don't words."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    promo_price: float | None = Field(default=None, gt=0)
    discount: float | Phrase | None = None  # 0.2, "20%", "8折"
    offer: Offer = Field(default_factory=Offer)
    season: Phrase | None = None
    shop_name: str | None = Field(default=None, max_length=MAX_SHOP_NAME)
    required_words: list[Phrase] = Field(default_factory=list, max_length=MAX_WORDS)
    forbidden_words: list[Phrase] = Field(default_factory=list, max_length=MAX_WORDS)


def product_facts(settings: Settings, product_id: str) -> ProductFacts:
    """The product's facts from the store (price in minor units → major units)."""
    from marketpilot.data import Store

    with Store.open(settings, read_only=True) as store:
        frame = store.query("SELECT * FROM products WHERE product_id = ?", [product_id])
    if frame.empty:
        raise NotFoundError(
            f"No product {product_id!r} in the store at {settings.home_dir}.",
            hint="Load a catalogue first (marketpilot load … or marketpilot demo) and check the id.",
        )
    return ProductFacts.from_row(frame.iloc[0].to_dict())


def segment_persona(settings: Settings, segment: str) -> str | None:
    """The persona `marketpilot segment` wrote for `segment` in <home>/intel/segments.json, found by the
    segment's number ("2", as campaigns and segments.parquet name it) or its persona name.

    None for "all" or before segmentation has run; an unknown segment is an error naming the known ones,
    and so is a name that several segments share (segmentations saved before names were made unique).
    """
    path = settings.home_dir / "intel" / "segments.json"
    if segment == "all" or not path.exists():
        return None
    try:
        profiles = json.loads(path.read_text(encoding="utf-8"))["segments"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise UserError(
            f"{path} is not a segmentation summary ({exc}).", hint="Run `marketpilot segment` again."
        ) from exc
    personas = [profile["persona"] for profile in profiles]
    # The number first: it is what campaigns and segments.parquet use, and it is always unique.
    matches = [p for p in personas if str(p["segment"]) == segment] or [
        p for p in personas if p["name"] == segment
    ]
    if len(matches) == 1:
        return f"{matches[0]['name']}：{matches[0]['description']}"
    if matches:
        numbers = [str(p["segment"]) for p in matches]
        raise UserError(
            f"Segments {', '.join(numbers)} in {path} are all named {segment!r}.",
            hint=f"Pick one by its number instead: {' or '.join(numbers)} (--segment {numbers[0]}); "
            "or run `marketpilot segment` again, which gives every segment its own name.",
        )
    known = ", ".join(f"{p['segment']} ({p['name']})" for p in personas)
    raise NotFoundError(
        f"No segment {segment!r} in {path}.",
        hint=f"Use a segment number or persona name: {known}; or --segment all.",
    )


def review_selling_points(settings: Settings, product_id: str) -> list[str]:
    """The aspects reviewers praise most for the product (review insight without the LLM); none when the
    product has no reviews."""
    from marketpilot.analytics.reviews.insight import analyse_reviews, load_reviews

    reviews = load_reviews(settings, product=product_id)
    if reviews.empty:
        return []
    # complaint clusters would cost an embedding pass and are not selling points
    insight = analyse_reviews(reviews, scope=f"product {product_id}", use_llm=False, use_clusters=False)
    return insight.selling_points


def brief_for(
    settings: Settings,
    product_id: str,
    segment: str,
    channel: Channel,
    language: Language,
    extras: BriefExtras | None = None,
    *,
    shop_name: str | None = None,
) -> Brief:
    """The brief for one product × segment × channel: facts and review selling points from the store,
    the persona from segmentation, the promotion and brand words from `extras` (`shop_name` is a
    shorthand for `extras.shop_name`)."""
    # Checked before the store is read: a wrong channel or language was a pydantic traceback from the
    # Brief at the very end (the CLI and the API check their own inputs).
    if channel not in CHANNELS:
        raise UserError(f"Unknown channel {channel!r}.", hint=f"Use one of: {', '.join(CHANNELS)}")
    if language not in ("zh", "en"):
        raise UserError(f"language must be 'zh' or 'en', got {language!r}.")
    extras = extras or BriefExtras()
    if shop_name:
        extras = extras.model_copy(update={"shop_name": shop_name})
    product = product_facts(settings, product_id)
    try:
        product = ProductFacts.model_validate(
            product.model_dump()
            | {
                "promo_price": extras.promo_price,
                "discount": extras.discount,
                "selling_points": review_selling_points(settings, product_id),
            }
        )
    except ValidationError as exc:
        problems = [
            (f"{'.'.join(map(str, e['loc']))}: " if e["loc"] else "") + e["msg"].removeprefix("Value error, ")
            for e in exc.errors()
        ]
        raise ValidationFailed(problems, source=f"brief for product {product_id}") from exc
    return Brief(
        product=product,
        audience=Audience(segment=segment, persona=segment_persona(settings, segment)),
        channel=channel,
        language=language,
        brand=BrandVoice(
            shop_name=extras.shop_name,
            required_words=extras.required_words,
            forbidden_words=extras.forbidden_words,
        ),
        offer=extras.offer,
        season=extras.season,
    )


def generate_for_product(
    settings: Settings,
    product_id: str,
    segment: str,
    channel: Channel,
    n: int,
    language: Language,
    extras: BriefExtras | None = None,
    *,
    shop_name: str | None = None,
) -> VariantSet:
    """`marketpilot copy generate`: one brief from the store, one LLM call (plus at most one repair, and
    up to two top-ups when fewer than n survive; `shortfall` says why when still short); variants carry
    a predicted CTR when past campaigns recorded clicks."""
    from marketpilot.content.channels import channel_specs
    from marketpilot.content.scoring import ctr_model_from_history
    from marketpilot.llm import get_client

    brief = brief_for(settings, product_id, segment, channel, language, extras, shop_name=shop_name)
    client = get_client(settings)
    (result,) = generate_variants(
        [brief], client, n=n, specs=channel_specs(), ctr_model=ctr_model_from_history(settings)
    )
    return result


def poster_headlines(
    settings: Settings,
    product_id: str,
    segment: str,
    language: Language,
    *,
    n: int = 3,
    extras: BriefExtras | None = None,
    shop_name: str | None = None,
    seed: int | None = None,
) -> VariantSet:
    """Headlines for a poster or banner: copy written for the banner channel (width 32, no slots, the
    prompts ask for short headlines) and checked by its guardrails as `copy render poster` checks a
    headline, the visible AI label left to the rendered file. One LLM call (plus at most one repair);
    one passing headline is enough to draw a poster, so only when none passes is there a top-up call
    (plus its repair) asking for n again; a brief short of n says so in `shortfall`."""
    from marketpilot.content.channels import rendered_specs
    from marketpilot.llm import get_client

    brief = brief_for(settings, product_id, segment, "banner", language, extras, shop_name=shop_name)
    (result,) = generate_variants(
        [brief],
        get_client(settings),
        n=n,
        max_topups=1,
        enough=1,
        specs=rendered_specs("banner"),
        seed=seed,
    )
    return result
