"""Numbers as copy writes them: Arabic digits, Chinese numerals (三百九十九, 两百), money formats."""

from __future__ import annotations

import re

_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_SMALL_UNITS = {"十": 10, "百": 100, "千": 1000}
_BIG_UNITS = {"万": 10_000, "亿": 100_000_000}
CN_NUMERAL_CHARS = "".join(_DIGITS) + "".join(_SMALL_UNITS) + "".join(_BIG_UNITS)

# A number as marketing copy writes it: 1,299.00 or 39.9 or 三百九十九. It starts where the run of
# digits or numerals starts: a match tried from every position inside a long run is quadratic.
NUM = (
    rf"(?:(?<!\d)(?:\d{{1,3}}(?:,\d{{3}})+(?:\.\d+)?|\d+(?:\.\d+)?)"
    rf"|(?<![{CN_NUMERAL_CHARS}])[{CN_NUMERAL_CHARS}]+)"
)

# Full-width digits, Latin letters and the signs numbers and addresses use (％＠＋－．) as their ASCII
# forms, one character for one so that spans still point into the copy: １９９元, ６１８大促, ２０％ＯＦＦ,
# １３８１２３４５６７８. The full-width comma stays: "现价319，399起" is two figures, not 319,399.
_HALFWIDTH = {
    ord(ch): ord(ch) - 0xFEE0
    for ch in "０１２３４５６７８９％＠＋－．＄"
    "ＡＢＣＤＥＦＧＨＩＪＫＬＭＮＯＰＱＲＳＴＵＶＷＸＹＺａｂｃｄｅｆｇｈｉｊｋｌｍｎｏｐｑｒｓｔｕｖｗｘｙｚ"
}


def halfwidth(text: str) -> str:
    """`text` with full-width digits, letters and ％＠＋－．＄ as ASCII; same length, same positions."""
    return text.translate(_HALFWIDTH)


def is_cn_figure(run: str) -> bool:
    """三百九十九, 十五, 两百 read as figures; 千万 (by all means), 万一 (in case), 十分 (very) and a lone
    一 are words."""
    return (
        any(ch in "零〇一二两三四五六七八九" for ch in run)
        and any(ch in "十百千万亿" for ch in run)
        and run[0] not in "万亿"
    )


def cn_to_number(text: str) -> int | None:
    """三百九十九 → 399, 两百 → 200, 一千二百九十九 → 1299, 十五 → 15, 一百零八 → 108.

    A lone 万/亿 is not a number here: in copy it is part of a word ("万能", "亿万").
    """
    if not text or all(ch in _BIG_UNITS for ch in text):
        return None
    total = section = digit = 0
    for ch in text:
        if ch in _DIGITS:
            digit = _DIGITS[ch]
        elif ch in _SMALL_UNITS:
            section += (digit or 1) * _SMALL_UNITS[ch]
            digit = 0
        elif ch in _BIG_UNITS:
            total += (section + digit) * _BIG_UNITS[ch]
            section = digit = 0
        else:
            return None
    return total + section + digit


def parse_number(text: str) -> float | None:
    """Digits (with thousands commas) or Chinese numerals."""
    text = text.strip()
    if re.fullmatch(r"[\d,]+(?:\.\d+)?", text):
        return float(text.replace(",", ""))
    value = cn_to_number(text)
    return None if value is None else float(value)


def parse_fold(text: str) -> float | None:
    """The figure before 折: digits (85, 8.5), or Chinese digits read one by one (七五折 is 75折, not
    the 5 that `cn_to_number` makes of 七五)."""
    if text and all(ch in _DIGITS for ch in text):
        return float("".join(str(_DIGITS[ch]) for ch in text))
    return parse_number(text)


def fmt_amount(value: float) -> str:
    """399.0 → '399', 39.9 → '39.9', 39.95 → '39.95'."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


# A Chinese numeral that counts days, money or a discount: 七天, 十五个工作日, 两个月, 一百元, 八五折.
# Only before such a unit: 一起, 统一, 十分, 千万 are words, and 一次 / 一件 too often mean "once" / "a".
_CN_COUNTED = re.compile(
    rf"[{CN_NUMERAL_CHARS}]+(?=\s*(?:个)?(?:工作日|小时|分钟|天|日|周|星期|月|年|元|块|折|倍))"
)


def cn_counted_numbers(text: str) -> list[int]:
    """The values of the Chinese numerals in `text` that count something (see `_CN_COUNTED`); a run of
    plain digits reads digit by digit (八五折 → 85, 二〇二五年 → 2025)."""
    out = []
    for m in _CN_COUNTED.finditer(text):
        run = m.group()
        if not (any(ch in _DIGITS for ch in run) or run[0] == "十"):
            continue  # 千万, 万: no digit, not a figure
        if all(ch in _DIGITS for ch in run):
            out.append(int("".join(str(_DIGITS[ch]) for ch in run)))
        elif (value := cn_to_number(run)) is not None:
            out.append(value)
    return out
