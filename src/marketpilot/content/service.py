"""What the `copy` commands (and the API) call: briefs from the store and segment outputs, then
generation, checking and rendering."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

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
    """The persona text the customer-intelligence step wrote for `segment`, if any: it looks for tables
    and JSON under <home>/segments/ with a segment id/name column and a persona/description column."""
    folder = settings.home_dir / "segments"
    if not folder.is_dir():
        return None
    for path in sorted(folder.glob("*")):
        frame = _read_table(path)
        if frame is None or frame.empty:
            continue
        keys = [c for c in ("segment", "segment_id", "segment_name", "name") if c in frame.columns]
        texts = [
            c for c in ("persona", "persona_description", "description", "persona_name") if c in frame.columns
        ]
        if not keys or not texts:
            continue
        mask = pd.Series(False, index=frame.index)
        for key in keys:
            mask |= frame[key].astype(str) == segment
        if mask.any():
            row = frame[mask].iloc[0]
            parts = [str(row[c]) for c in texts if pd.notna(row[c]) and str(row[c]).strip()]
            return "；".join(dict.fromkeys(parts)) or None
    return None


def _read_table(path: Path) -> pd.DataFrame | None:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        records = data.get("segments", data) if isinstance(data, dict) else data
        return pd.DataFrame(records) if isinstance(records, list) else None
    return None


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
