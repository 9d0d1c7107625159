"""What the `copy` commands (and the API) call: briefs from the store and segment outputs, then
generation, checking and rendering."""

from __future__ import annotations

import json

from marketpilot.config import Settings
from marketpilot.content.briefs import Audience, Brief, Channel, Language, ProductFacts
from marketpilot.content.generate import VariantSet, generate_variants
from marketpilot.errors import UserError


def product_facts(settings: Settings, product_id: str) -> ProductFacts:
    """The product's facts from the store (price in minor units → major units)."""
    from marketpilot.data import Store

    with Store.open(settings, read_only=True) as store:
        frame = store.query("SELECT * FROM products WHERE product_id = ?", [product_id])
    if frame.empty:
        raise UserError(
            f"No product {product_id!r} in the store at {settings.home_dir}.",
            hint="Load a catalogue first (marketpilot load … or marketpilot demo) and check the id.",
        )
    return ProductFacts.from_row(frame.iloc[0].to_dict())


def segment_persona(settings: Settings, segment: str) -> str | None:
    """The persona `marketpilot segment` wrote for `segment` in <home>/intel/segments.json, found by the
    segment's number ("2", as campaigns and segments.parquet name it) or its persona name.

    None for "all" or before segmentation has run; an unknown segment is an error naming the known ones.
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
    known: list[str] = []
    for profile in profiles:
        persona = profile["persona"]
        number, name = str(persona["segment"]), persona["name"]
        if segment in (number, name):
            return f"{name}：{persona['description']}"
        known.append(f"{number} ({name})")
    raise UserError(
        f"No segment {segment!r} in {path}.",
        hint=f"Use a segment number or persona name: {', '.join(known)}; or --segment all.",
    )


def brief_for(
    settings: Settings,
    product_id: str,
    segment: str,
    channel: Channel,
    language: Language,
    *,
    shop_name: str | None = None,
) -> Brief:
    product = product_facts(settings, product_id)
    persona = segment_persona(settings, segment)
    brief = Brief(
        product=product,
        audience=Audience(segment=segment, persona=persona),
        channel=channel,
        language=language,
    )
    if shop_name:
        brief.brand.shop_name = shop_name
    return brief


def generate_for_product(
    settings: Settings,
    product_id: str,
    segment: str,
    channel: Channel,
    n: int,
    language: Language,
    *,
    shop_name: str | None = None,
) -> VariantSet:
    """`marketpilot copy generate`: one brief from the store, one LLM call (plus at most one repair)."""
    from marketpilot.llm import get_client

    brief = brief_for(settings, product_id, segment, channel, language, shop_name=shop_name)
    client = get_client(settings)
    (result,) = generate_variants([brief], client, n=n)
    return result
