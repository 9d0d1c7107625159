"""Platform rules: time-limited claims need a real end date; AI-generated copy carries its label.

China's 《人工智能生成合成内容标识办法》 (in force 1 September 2025) asks for an explicit, visible
label where the medium allows it and implicit labels (metadata) in every generated file. Which
channels must show the visible marker is configurable per channel (`ChannelSpec.visible_ai_label`);
the metadata is written by the renderers (render/poster.py, render/email.py) for every asset.
"""

from __future__ import annotations

import re

from marketpilot.content.briefs import Brief
from marketpilot.content.channels import AI_LABEL, ChannelSpec
from marketpilot.content.guardrails.base import Violation

_TIME_LIMITED = re.compile(
    r"限时|限期|仅限今[天日]|今[天日]截止|倒计时|最后\s*\d+\s*(?:天|小时)|马上结束|即将结束|手慢无"
    r"|limited[- ]time|today only|ends (?:soon|tonight|today)|last chance|hurry"
    r"|only \d+ (?:days?|hours?) left",
    re.IGNORECASE,
)
_AI_MARKER = re.compile(
    r"AI\s*生成|AI\s*辅助生成|人工智能生成|AI[- ]generated|generated (?:by|with) AI", re.IGNORECASE
)


def check_time_limited(text: str, brief: Brief) -> list[Violation]:
    if brief.offer.deadline is not None:
        return []
    return [
        Violation(
            rule="platform",
            span=m.span(),
            text=m.group(),
            message="time-limited claim but the brief has no end date for the offer",
            suggestion="add offer.deadline to the brief, or remove the urgency claim",
        )
        for m in _TIME_LIMITED.finditer(text)
    ]


def has_ai_label(text: str) -> bool:
    return bool(_AI_MARKER.search(text))


def check_ai_label(text: str, brief: Brief, spec: ChannelSpec) -> list[Violation]:
    if not spec.visible_ai_label or has_ai_label(text):
        return []
    label = AI_LABEL[brief.language]
    return [
        Violation(
            rule="platform",
            span=(len(text), len(text)),
            text="",
            message=f"{spec.name} must show a visible AI-generated label",
            suggestion=f"append “{label}”",
        )
    ]


def add_ai_label(text: str, language: str, channel_spec: ChannelSpec) -> str:
    """The copy with the visible marker appended where the channel requires one."""
    if not channel_spec.visible_ai_label or has_ai_label(text):
        return text
    label = AI_LABEL[language]
    return f"{text}（{label}）" if language == "zh" else f"{text} ({label})"
