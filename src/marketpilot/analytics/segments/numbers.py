"""Is every number in a persona text backed by the segment statistics?

A persona may round and reformat (12.3% / 12.3 / 0.123, 1,234 / 1234, 1.2万 / 12,345, 三成 for 30%)
but may not invent. `unsupported_numbers` lists the numbers of a text that match no statistic; the
persona generator regenerates (naming them) or rejects the text.

A number matches a statistic when it equals the statistic rounded to the precision the text shows:
"35%" matches 0.3462 (34.62 → 35), "1.2万" matches 12,345 (1.2 × 10⁴ ± 0.05 × 10⁴).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# Shopping festivals are names, not statistics: 双11 (Singles' Day), 双12, 618, 99 (9.9 sales).
_NAMES = re.compile(r"双\s*1[12](?!\d)|双十[一二]|(?<![\d.])6\.?18(?![\d.])|Top\s*\d+(?!\d)", re.I)
_NUMBER = re.compile(
    r"(?<![\d.,])(?P<sign>[-+−])?(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)\s*"
    r"(?P<unit>%|％|个百分点|percent|万|亿|千|[kK](?![a-zA-Z])|成(?!员|交|本|为|功|熟|长))?"
)
_CN_DIGITS = {
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
    "十": 10,
}
# 三成 = 30 %, 两倍 = ×2: Chinese numerals count only with these units, so 一般 / 十分 stay words.
_CN_NUMBER = re.compile(r"(?P<num>[一二两三四五六七八九十])(?P<unit>成(?!员|交|本|为|功|熟|长)|倍)")
_SCALE = {"万": 1e4, "亿": 1e8, "千": 1e3, "k": 1e3, "K": 1e3}


@dataclass(frozen=True)
class Mention:
    """A number as written: `value` in the unit of the statistics, `tolerance` from the shown precision."""

    text: str
    value: float
    tolerance: float
    percent: bool


def mentions(text: str) -> list[Mention]:
    """The numbers of a text (full-width digits normalised; festival names ignored)."""
    text = _NAMES.sub(" ", unicodedata.normalize("NFKC", text))
    found: list[Mention] = []
    for m in _NUMBER.finditer(text):
        raw = m.group("num")
        unit = m.group("unit") or ""
        decimals = len(raw.split(".")[1]) if "." in raw else 0
        value = float(raw.replace(",", ""))
        if m.group("sign") in ("-", "−"):
            value = -value
        step = 10.0**-decimals
        scale = _SCALE.get(unit, 1.0)
        if unit == "成":
            value, step, percent = value * 10, 10.0, True
        else:
            percent = unit in ("%", "％", "个百分点", "percent")
        found.append(Mention(m.group(0).strip(), value * scale, step / 2 * scale, percent))
    for m in _CN_NUMBER.finditer(text):
        digit = _CN_DIGITS[m.group("num")]
        if m.group("unit") == "倍":
            found.append(Mention(m.group(0), float(digit), 0.5, False))
        else:
            found.append(Mention(m.group(0), digit * 10.0, 5.0, True))
    return found


def flatten_numbers(stats: object) -> list[float]:
    """Every number in nested stats (dicts, lists, pydantic models); list lengths count too
    ("3 个主要品类" when the stats list three)."""
    out: list[float] = []
    stack: list[object] = [stats]
    while stack:
        item = stack.pop()
        if hasattr(item, "model_dump"):
            item = item.model_dump()
        if isinstance(item, bool) or item is None:
            continue
        if isinstance(item, int | float):
            out.append(float(item))
        elif isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, Iterable) and not isinstance(item, str | bytes):
            values = list(item)
            out.append(float(len(values)))
            stack.extend(values)
    return out


def _supported(mention: Mention, allowed: list[float]) -> bool:
    for value in allowed:
        # A share stored as 0.123 may be written 12.3%, 12.3 or 0.123; a rate stored as 12.3 as 12.3%.
        candidates = (value, value * 100) if abs(value) <= 1 else (value,)
        for candidate in candidates:
            if abs(mention.value - candidate) <= mention.tolerance + 1e-9 * max(1.0, abs(candidate)):
                return True
    return False


def unsupported_numbers(text: str, stats: object) -> list[str]:
    """The numbers written in `text` that match no number in `stats` (empty list: all grounded)."""
    allowed = flatten_numbers(stats)
    return [m.text for m in mentions(text) if not _supported(m, allowed)]
