"""Per-customer personalisation at render time: {name}, {last_category}, {rec_items}.

The model writes the slots; the renderer fills them per customer, so no personal data ever reaches
the model. Customers who opted out of personalisation get the same copy with neutral wording.
`render_batch` fills a whole column of customers with vectorised string operations.

With `metadata=True` both also return the AIGC metadata (producer, time, model, prompt version; see
render/labels.py) that China's labelling measures ask every AI-generated message to carry, for the
sender to pass on (an SMS gateway's extension field, a push payload's custom data). Whether a channel
carries it is `ChannelSpec.ai_metadata`, configurable per channel (channels.channel_specs).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal, overload

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from marketpilot.content.channels import CHANNEL_SPECS, ChannelSpec
from marketpilot.content.guardrails.length import sms_message
from marketpilot.content.guardrails.slots import SLOT_PATTERN as _SLOT
from marketpilot.content.guardrails.slots import SLOTS

if TYPE_CHECKING:
    from marketpilot.content.generate import Variant

# Neutral wording for customers without (or opted out of) personal data.
GENERIC: dict[str, dict[str, str]] = {
    "zh": {"name": "亲", "last_category": "心仪好物", "rec_items": "店铺精选"},
    "en": {"name": "there", "last_category": "favourites", "rec_items": "our picks"},
}
# Longest value a slot may take, so a name cannot push an SMS into another billed segment.
MAX_SLOT_CHARS = {"name": 8, "last_category": 8, "rec_items": 24}
_LIST_SEP = {"zh": "、", "en": ", "}


class CustomerSlots(BaseModel):
    """What render time knows about one customer. Never sent to a model."""

    name: str | None = None
    last_category: str | None = None
    rec_items: list[str] = Field(default_factory=list)
    personalise: bool = True  # False when the customer opted out of personalisation


def _clip(value: str, slot: str) -> str:
    limit = MAX_SLOT_CHARS[slot]
    return value if len(value) <= limit else value[: limit - 1] + "…"


def slot_values(slots: CustomerSlots | None, language: str) -> dict[str, str]:
    generic = GENERIC[language]
    if slots is None or not slots.personalise:
        return dict(generic)
    items = _LIST_SEP[language].join(slots.rec_items[:3])
    values = {"name": slots.name, "last_category": slots.last_category, "rec_items": items}
    return {k: _clip(v, k) if v else generic[k] for k, v in values.items()}


def fill_slots(text: str, slots: CustomerSlots | None, language: str) -> str:
    values = slot_values(slots, language)
    return _SLOT.sub(lambda m: values.get(m.group(1), m.group()), text)


def fallback_text(text: str, language: str) -> str:
    """The non-personalised version of a variant."""
    return fill_slots(text, None, language)


class RenderedMessage(BaseModel):
    text: str
    # None when the copy is not AI-generated or the channel is configured without metadata
    aigc_metadata: dict[str, str] | None = None


def message_metadata(
    variant: Variant, *, propagator: str | None = None, specs: Mapping[str, ChannelSpec] = CHANNEL_SPECS
) -> dict[str, str] | None:
    """The AIGC metadata of a variant: one per generated text, so every customer's message of it carries
    the same ProduceID (slot filling is not generation)."""
    from marketpilot.content.render.labels import ai_metadata

    spec = specs.get(variant.channel)
    if not variant.ai_generated or (spec is not None and not spec.ai_metadata):
        return None
    return ai_metadata(
        variant.text,
        propagator=propagator,
        model=variant.model,
        prompt_version=variant.prompt_version,
        produced_at=variant.generated_at,
    )


@overload
def render_message(
    variant: Variant,
    customer_slots: CustomerSlots | None = None,
    *,
    shop_name: str | None = None,
    metadata: Literal[False] = False,
    specs: Mapping[str, ChannelSpec] = CHANNEL_SPECS,
) -> str: ...
@overload
def render_message(
    variant: Variant,
    customer_slots: CustomerSlots | None = None,
    *,
    shop_name: str | None = None,
    metadata: Literal[True],
    specs: Mapping[str, ChannelSpec] = CHANNEL_SPECS,
) -> RenderedMessage: ...
def render_message(
    variant: Variant,
    customer_slots: CustomerSlots | None = None,
    *,
    shop_name: str | None = None,
    metadata: bool = False,
    specs: Mapping[str, ChannelSpec] = CHANNEL_SPECS,
) -> str | RenderedMessage:
    """The text one customer receives: slots filled (or neutral when opted out); for SMS, with the
    【shop】 signature and the opt-out text the carrier requires. With `metadata`, a RenderedMessage
    that carries the AIGC metadata too."""
    text = fill_slots(variant.text, customer_slots, variant.language)
    if variant.channel == "sms":
        text = sms_message(text, shop_name=shop_name, language=variant.language)
    if not metadata:
        return text
    return RenderedMessage(
        text=text, aigc_metadata=message_metadata(variant, propagator=shop_name, specs=specs)
    )


@overload
def render_batch(
    variant: Variant,
    customers: pd.DataFrame,
    *,
    metadata: Literal[False] = False,
    propagator: str | None = None,
    specs: Mapping[str, ChannelSpec] = CHANNEL_SPECS,
) -> pd.Series: ...
@overload
def render_batch(
    variant: Variant,
    customers: pd.DataFrame,
    *,
    metadata: Literal[True],
    propagator: str | None = None,
    specs: Mapping[str, ChannelSpec] = CHANNEL_SPECS,
) -> pd.DataFrame: ...
def render_batch(
    variant: Variant,
    customers: pd.DataFrame,
    *,
    metadata: bool = False,
    propagator: str | None = None,
    specs: Mapping[str, ChannelSpec] = CHANNEL_SPECS,
) -> pd.Series | pd.DataFrame:
    """Fill the variant for every row of `customers` (columns name, last_category, rec_items, personalise;
    any may be missing). Vectorised: the template is split once and the columns are concatenated.
    With `metadata`, a DataFrame with `text` and `aigc_metadata` (the metadata as JSON, one string
    for the whole batch since it describes the variant; None where the channel carries none)."""
    text = _fill_batch(variant, customers)
    if not metadata:
        return text
    from marketpilot.content.render.labels import metadata_json

    meta = message_metadata(variant, propagator=propagator, specs=specs)
    return pd.DataFrame(
        {"text": text, "aigc_metadata": metadata_json(meta) if meta else None}, index=text.index
    )


def _fill_batch(variant: Variant, customers: pd.DataFrame) -> pd.Series:
    generic = GENERIC[variant.language]
    n = len(customers)
    personalise = (
        customers["personalise"].fillna(True).to_numpy(bool)
        if "personalise" in customers
        else np.ones(n, bool)
    )
    pieces = _SLOT.split(variant.text)  # literal, slot, literal, slot, ...
    out = pd.Series([pieces[0]] * n, index=customers.index, dtype=object)
    for i in range(1, len(pieces), 2):
        slot, literal = pieces[i], pieces[i + 1]
        if slot not in SLOTS:
            values = pd.Series(["{" + slot + "}"] * n, index=customers.index)
        else:
            column = customers[slot] if slot in customers else pd.Series([None] * n, index=customers.index)
            if slot == "rec_items":
                column = column.str[:3].str.join(_LIST_SEP[variant.language])
            column = column.astype(object).where(column.notna() & (column.astype(str) != ""), None)
            limit = MAX_SLOT_CHARS[slot]
            text = column.astype(str)
            clipped = text.where(text.str.len() <= limit, text.str.slice(0, limit - 1) + "…")
            values = pd.Series(
                np.where(personalise & column.notna().to_numpy(), clipped, generic[slot]),
                index=customers.index,
            )
        out = out + values + literal
    return out
