"""Channel length limits, and what an SMS will cost in billed segments."""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

from pydantic import BaseModel

from marketpilot.content.briefs import Brief
from marketpilot.content.channels import (
    OPT_OUT,
    SMS_SEGMENT_GSM,
    SMS_SEGMENT_UCS2,
    SMS_SINGLE_GSM,
    SMS_SINGLE_UCS2,
    ChannelSpec,
)
from marketpilot.content.guardrails.base import Violation

# GSM 03.38 basic set; anything else forces UCS-2 (70/67 characters). Extension characters cost 2.
_GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXT = set("^{}\\[~]|€")
_OPT_OUT_PRESENT = re.compile(
    r"拒收请回复\s*R|回\s*T\s*退订|退订回\s*T|回复\s*TD?\s*退订|reply\s+stop", re.IGNORECASE
)


class SmsBilling(BaseModel):
    """The message as the carrier bills it: signature + copy + opt-out text."""

    message: str
    chars: int  # billing units (GSM extension characters count 2)
    encoding: Literal["GSM-7", "UCS-2"]
    segments: int


def sms_message(text: str, *, shop_name: str | None, language: str) -> str:
    """The full SMS: 【shop】 signature first, opt-out text appended unless the copy already has one."""
    body = text.strip()
    if shop_name and not body.startswith(f"【{shop_name}】"):
        body = f"【{shop_name}】{body}"
    if not _OPT_OUT_PRESENT.search(body):
        sep = "" if language == "zh" else " "
        body = f"{body}{sep}{OPT_OUT[language]}"
    return body


def _is_gsm(message: str) -> bool:
    return all(ch in _GSM_BASIC or ch in _GSM_EXT for ch in message)


def _units(ch: str, gsm: bool) -> int:
    """Billing units of one character: GSM extension characters take an escape plus the character,
    characters outside the BMP (emoji) two UCS-2 code units."""
    return (2 if ch in _GSM_EXT else 1) if gsm else (2 if ord(ch) > 0xFFFF else 1)


def sms_billing(message: str) -> SmsBilling:
    gsm = _is_gsm(message)
    chars = sum(_units(ch, gsm) for ch in message)
    if gsm:
        single, segment, encoding = SMS_SINGLE_GSM, SMS_SEGMENT_GSM, "GSM-7"
    else:
        single, segment, encoding = SMS_SINGLE_UCS2, SMS_SEGMENT_UCS2, "UCS-2"
    segments = 1 if chars <= single else -(-chars // segment)
    return SmsBilling(message=message, chars=chars, encoding=encoding, segments=segments)  # type: ignore[arg-type]


def char_width(ch: str) -> int:
    # combining accents, zero-width joiners and variation selectors take no room of their own
    if unicodedata.category(ch) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def display_width(text: str) -> int:
    return sum(char_width(ch) for ch in text)


def _overflow_index(text: str, max_width: int) -> int:
    width = 0
    for i, ch in enumerate(text):
        width += char_width(ch)
        if width > max_width:
            return i
    return len(text)


def _width_violation(text: str, offset: int, limit: int, what: str, zh: bool) -> Violation | None:
    width = display_width(text)
    if width <= limit:
        return None
    cut = _overflow_index(text, limit)
    return Violation(
        rule="length",
        span=(offset + cut, offset + len(text)),
        text=text[cut:],
        message=f"{what} is {width} wide (CJK counts 2); the limit is {limit}",
        suggestion=f"shorten to about {limit // 2 if zh else limit} characters",
    )


# Where a one-line push may be split into its title and body: after a clause (not the stop of 1.2kg).
_PUSH_BREAK = re.compile(r"[，。！？；：]|[,;:!?](?=\s)|\.(?=\s)")


def push_lines(text: str, spec: ChannelSpec) -> str:
    """A push written on one line that is wider than its title, as title and body: the line break at
    the last clause end whose title still fits (a closing ，/。/; dropped, ！/？ kept). Measured: the
    embedded model wrote every one of 12 push drafts on one line, and each failed the title width.
    Text that already has its line break, fits as a title, or has no clause end in reach is as written."""
    if spec.title_max_width is None or "\n" in text or display_width(text) <= spec.title_max_width:
        return text
    cut = None
    for m in _PUSH_BREAK.finditer(text):
        kept = m.end() if m.group() in "！？!?" else m.start()
        if display_width(text[:kept]) > spec.title_max_width:
            break
        if text[m.end() :].strip():
            cut = (kept, m.end())
    if cut is None:
        return text
    return f"{text[: cut[0]].rstrip()}\n{text[cut[1] :].lstrip()}"


def check_length(text: str, brief: Brief, spec: ChannelSpec) -> list[Violation]:
    zh = brief.language == "zh"
    if not text.strip():  # nothing to send: a blank SMS is still billed, a blank poster says nothing
        return [Violation(rule="length", span=(0, len(text)), text=text, message="the copy is empty")]
    violations: list[Violation] = []
    if spec.name == "sms":
        bill = sms_billing(sms_message(text, shop_name=brief.brand.shop_name, language=brief.language))
        if spec.max_sms_segments and bill.segments > spec.max_sms_segments:
            gsm = bill.encoding == "GSM-7"
            body = text.strip()
            extra = bill.chars - sum(_units(ch, gsm) for ch in body)  # signature + opt-out
            budget = spec.max_sms_segments * (SMS_SEGMENT_GSM if gsm else SMS_SEGMENT_UCS2) - extra
            # the first character of the copy that no longer fits (an emoji counts 2 units, not 1)
            lead = len(text) - len(text.lstrip())
            keep, used = lead, 0
            while keep < len(text) and used + _units(text[keep], gsm) <= budget:
                used += _units(text[keep], gsm)
                keep += 1
            violations.append(
                Violation(
                    rule="length",
                    span=(keep, len(text)),
                    text=text[keep:],
                    message=(
                        f"SMS is {bill.chars} characters with signature and opt-out ({bill.encoding}): "
                        f"{bill.segments} billed segments, the limit is {spec.max_sms_segments}"
                    ),
                    suggestion=f"shorten the copy to {keep - lead} characters",
                )
            )
        return violations
    if spec.title_max_width is not None:
        title, _, body = text.partition("\n")
        if v := _width_violation(title, 0, spec.title_max_width, "push title", zh):
            violations.append(v)
        if spec.max_width is not None and (
            v := _width_violation(body, len(title) + 1, spec.max_width, "push body", zh)
        ):
            violations.append(v)
        return violations
    if spec.max_width is not None and (v := _width_violation(text, 0, spec.max_width, spec.name, zh)):
        violations.append(v)
    if spec.max_chars is not None and len(text) > spec.max_chars:
        violations.append(
            Violation(
                rule="length",
                span=(spec.max_chars, len(text)),
                text=text[spec.max_chars :],
                message=f"{spec.name} has {len(text)} characters; the limit is {spec.max_chars}",
                suggestion=f"shorten to {spec.max_chars} characters",
            )
        )
    return violations
