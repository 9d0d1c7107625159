"""What each channel allows: length limits, SMS billing, and whether a visible AI label fits.

Limits follow the common platform rules in China: SMS is billed per 70 characters (UCS-2), or per 67
once a message is split (the concatenation header takes 3); signature 【店铺名】 and opt-out text count.
Push titles beyond ~20 characters and bodies beyond ~50 are cut on lock screens; mail clients show
~30 Chinese / ~60 Latin characters of a subject line (counted here as display width, CJK = 2).
"""

from __future__ import annotations

from pydantic import BaseModel

from marketpilot.content.briefs import Channel


class ChannelSpec(BaseModel):
    name: Channel
    max_width: int | None = None  # display width: CJK and full-width characters count 2
    max_chars: int | None = None  # characters, for channels billed or cut by character
    max_sms_segments: int | None = None
    title_max_width: int | None = None  # push: the first line is the title
    visible_ai_label: bool = False  # whether the copy itself must carry "AI生成" / "AI-generated"


CHANNEL_SPECS: dict[str, ChannelSpec] = {
    "sms": ChannelSpec(name="sms", max_sms_segments=2),
    "push": ChannelSpec(name="push", title_max_width=40, max_width=100),
    "email_subject": ChannelSpec(name="email_subject", max_width=60),
    "email_body": ChannelSpec(name="email_body", max_chars=2000, visible_ai_label=True),
    "banner": ChannelSpec(name="banner", max_width=32, visible_ai_label=True),
    "product_title": ChannelSpec(name="product_title", max_width=60),
    "social_post": ChannelSpec(name="social_post", max_chars=1000, visible_ai_label=True),
}

SMS_SINGLE_UCS2, SMS_SEGMENT_UCS2 = 70, 67
SMS_SINGLE_GSM, SMS_SEGMENT_GSM = 160, 153
OPT_OUT = {"zh": "拒收请回复R", "en": "Reply STOP to opt out"}
AI_LABEL = {"zh": "AI生成", "en": "AI-generated"}
