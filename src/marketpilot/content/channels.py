"""What each channel allows: length limits, SMS billing, and how AI-generated copy is labelled.

Limits follow the common platform rules in China: SMS is billed per 70 characters (UCS-2), or per 67
once a message is split (the concatenation header takes 3); signature 【店铺名】 and opt-out text count.
Push titles beyond ~20 characters and bodies beyond ~50 are cut on lock screens; mail clients show
~30 Chinese / ~60 Latin characters of a subject line (counted here as display width, CJK = 2).
A banner's headline (also the poster's) is width 32: at most two lines on either layout of
render/poster.py, so a checked headline is drawn whole (one unbroken Latin word too wide for a line
is refused there, never cut).

The AI label settings (`visible_ai_label`, `ai_metadata`) can be changed per channel in the
`[content.ai_label.<channel>]` tables of marketpilot.toml, the file Settings reads (see
`channel_specs`); the limits are fixed by the carriers and platforms, so they are not configurable.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from marketpilot.content.briefs import CHANNELS, Channel
from marketpilot.errors import UserError


class ChannelSpec(BaseModel):
    name: Channel
    max_width: int | None = None  # display width: CJK and full-width characters count 2
    max_chars: int | None = None  # characters, for channels billed or cut by character
    max_sms_segments: int | None = None
    title_max_width: int | None = None  # push: the first line is the title
    visible_ai_label: bool = False  # whether the copy itself must carry "AI生成" / "AI-generated"
    ai_metadata: bool = True  # whether rendered messages carry the AIGC metadata (files always do)
    # Whether copy may carry the {name}-style slots filled per customer at send time: a banner or
    # poster is one image that everyone sees, so nothing would fill them.
    slots: bool = True


CHANNEL_SPECS: dict[str, ChannelSpec] = {
    "sms": ChannelSpec(name="sms", max_sms_segments=2),
    "push": ChannelSpec(name="push", title_max_width=40, max_width=100),
    "email_subject": ChannelSpec(name="email_subject", max_width=60),
    "email_body": ChannelSpec(name="email_body", max_chars=2000, visible_ai_label=True),
    "banner": ChannelSpec(name="banner", max_width=32, visible_ai_label=True, slots=False),
    "product_title": ChannelSpec(name="product_title", max_width=60),
    "social_post": ChannelSpec(name="social_post", max_chars=1000, visible_ai_label=True),
}

SMS_SINGLE_UCS2, SMS_SEGMENT_UCS2 = 70, 67
SMS_SINGLE_GSM, SMS_SEGMENT_GSM = 160, 153
OPT_OUT = {"zh": "拒收请回复R", "en": "Reply STOP to opt out"}
AI_LABEL = {"zh": "AI生成", "en": "AI-generated"}


class AILabelOverride(BaseModel):
    """One `[content.ai_label.<channel>]` table."""

    model_config = ConfigDict(extra="forbid")

    visible: bool | None = None
    metadata: bool | None = None


def config_path() -> Path:
    """The TOML file Settings reads (MARKETPILOT_CONFIG, default ./marketpilot.toml)."""
    return Path(os.environ.get("MARKETPILOT_CONFIG", "marketpilot.toml"))


def channel_specs(path: Path | None = None) -> dict[str, ChannelSpec]:
    """The channel specs with the AI label overrides of `[content.ai_label.<channel>]` applied:

    [content.ai_label.sms]
    visible = true      # append （AI生成） to every SMS
    [content.ai_label.push]
    metadata = false    # no aigc_metadata on rendered push messages
    """
    path = path or config_path()
    if not path.exists():
        return dict(CHANNEL_SPECS)
    try:
        tables = tomllib.loads(path.read_text(encoding="utf-8")).get("content", {}).get("ai_label", {})
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path} is not valid TOML: {exc}") from exc
    specs = dict(CHANNEL_SPECS)
    for channel, table in tables.items():
        if channel not in CHANNELS:
            raise UserError(
                f"{path}: [content.ai_label.{channel}] names no channel.",
                hint=f"Use one of: {', '.join(CHANNELS)}",
            )
        try:
            override = AILabelOverride.model_validate(table)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise UserError(
                f"{path}: [content.ai_label.{channel}]: {problems}",
                hint="Only `visible` and `metadata` (true/false) are read.",
            ) from exc
        update = {"visible_ai_label": override.visible, "ai_metadata": override.metadata}
        specs[channel] = specs[channel].model_copy(update={k: v for k, v in update.items() if v is not None})
    return specs


def rendered_specs(channel: str, specs: Mapping[str, ChannelSpec] | None = None) -> dict[str, ChannelSpec]:
    """The specs (default `channel_specs()`) for copy drawn into a file (a poster, an e-mail): the file
    shows “AI生成” and carries the AIGC metadata itself, so the text needs no visible label of its own."""
    out = dict(channel_specs() if specs is None else specs)
    out[channel] = out[channel].model_copy(update={"visible_ai_label": False})
    return out
