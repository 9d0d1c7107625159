"""Find and mask personal data in free text (Chinese and English).

Used before any text reaches an LLM, on every generated output, and by the copy guardrails.
Patterns are deliberately conservative where a false positive would break marketing copy
(prices, dates, order numbers): phone numbers need a mobile/landline shape, ID numbers and bank
cards must pass their checksums.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

PIIKind = Literal["phone", "email", "cn_id", "bank_card", "address", "im_account", "name"]

MASKS: dict[PIIKind, str] = {
    "phone": "[电话]",
    "email": "[邮箱]",
    "cn_id": "[身份证]",
    "bank_card": "[银行卡]",
    "address": "[地址]",
    "im_account": "[社交账号]",
    "name": "[姓名]",
}


@dataclass(frozen=True)
class PIIMatch:
    kind: PIIKind
    start: int
    end: int
    text: str


# Starts only where a local part can start: tried at every character of a long run of letters or
# digits, the scan for an "@" made 50,000 digits take six seconds.
_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
# CN mobile (optionally +86 / 0086, with spaces or dashes as 3-4-4), CN landline, and +CC international.
_PHONE = re.compile(
    r"(?<![\d.])(?:"
    r"(?:\+?86[\s-]?|0086[\s-]?)?1[3-9]\d(?:[\s-]?\d{4}){2}"
    r"|0\d{2,3}-\d{7,8}"
    r"|\+\d{1,3}[\s-]?\(?\d{1,4}\)?(?:[\s-]?\d{2,4}){2,4}"
    r")(?![\d.])"
)
# North American (415) 555-0123 / 415-555-0123, and Taiwan's mobiles 0912-345-678: shapes (the
# brackets, the dashes) that prices, dates and order numbers never have. Business lines are not
# personal data: China's 400/800 hotlines and North America's toll-free 8XX numbers belong to
# companies, and masking them hid a shop's own 客服热线 from its assistant's answers.
_PHONE_DASHED = re.compile(
    r"(?<![\d.-])(?!\(?(?:400|800|8(?:33|44|55|66|77|88))\)?[\s.-])"
    r"(?:\(\d{3}\)\s?\d{3}[\s.-]\d{4}|\d{3}-\d{3}-\d{4}|09\d{2}-\d{3}-\d{3})(?![\d-])"
)
# A WeChat or QQ account given to be contacted on ("加微信 zhang_san88", "QQ：12345678"): the account
# after the app's name; an account with no such word is not told apart from any other word.
_IM_ACCOUNT = re.compile(
    r"(?:(?:微信|威信|薇信|v信|扣扣)(?:号|账号)?\s*[:：是为]?\s*"
    # a Latin name needs a separator: "wx123456" is as likely a product's model number
    r"|(?<![A-Za-z0-9])(?:vx|wx|wechat|weixin|qq)(?:\s*(?:号|账号|id))?(?:\s*[:：是为]\s*|\s+))"
    r"(?P<account>[A-Za-z][-_A-Za-z0-9]{5,19}|\d{5,11})(?![-_A-Za-z0-9])",
    re.IGNORECASE,
)
# A person's name where the text says it is one ("收件人：张小明", "我叫李娜", "My name is Jane Doe"):
# a name anywhere else is not told apart from any other word. A Chinese name must start with a common
# surname, so "我叫了外卖" names nobody; its given name stops before a word that follows names
# ("张三电话…", "李四的快递").
_SURNAMES = (
    "欧阳|司马|诸葛|上官|慕容|东方|皇甫|令狐|公孙|司徒|夏侯|尉迟|长孙|宇文|"
    "[王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任"
    "沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
    "常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴"
    "霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑"
    "景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝]"
)
_NAME_ZH = re.compile(
    r"(?:姓名|收货人|收件人|联系人|签收人|寄件人|发件人|取件人|持卡人|开户名|真实姓名|我叫|本人叫|我的名字[是叫])"
    rf"\s*[:：]?\s*(?P<name>(?:{_SURNAMES})[\u4e00-\u9fa5]"
    r"(?:(?![的了是在说很电手地和与给要先女士生已也都就还])[\u4e00-\u9fa5])?)"
)
_NAME_EN = re.compile(
    # "name:" alone only where no other word qualifies it ("Product name: Blue Kettle" is no person)
    r"(?i:\bmy name is|\bi am called|\b(?:full |recipient(?:'s)? |customer )name\s*[:：]|"
    r"(?<![A-Za-z]\s)(?<![A-Za-z])name\s*[:：]|"
    r"\brecipient\s*[:：]|\battn\b[:.]?|\bcontact(?: person)?\s*[:：])"
    r"\s*(?P<name>[A-Z][a-z]+(?:[ -][A-Z][a-z]+){0,2})\b"
)
_NAME_EN_CUES = ("name", "called", "recipient", "attn", "contact")
# Full-width digits and letters (１３８…, ｚｈａｎｇ＠…) are the same number to a reader; mapped one to
# one, so spans found in the mapped text are spans of the original.
_HALFWIDTH = {0xFF01 + i: 0x21 + i for i in range(94)} | {0x3000: 0x20}
_CN_ID = re.compile(r"(?<!\d)\d{17}[\dXx](?![\dA-Za-z])")
_CARD = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
_ADDR_ZH = re.compile(
    r"(?:[\u4e00-\u9fa5]{2,9}(?:省|自治区))?"
    r"(?:[\u4e00-\u9fa5]{2,9}市)?"
    r"(?:[\u4e00-\u9fa5]{1,9}(?:区|县))?"
    r"[\u4e00-\u9fa5A-Za-z0-9]{1,20}(?:路|街|道|巷|弄|大道)"
    r"[\dA-Za-z一二三四五六七八九十百零\-]{1,8}号"
    r"(?:[\dA-Za-z\-]{1,6}(?:栋|幢|座|楼|单元|室))*"
)
_ADDR_EN = re.compile(
    r"\b\d{1,5}\s+(?:[A-Z][a-z]+\s+){1,4}"
    r"(?:Street|St|Road|Rd|Avenue|Ave|Lane|Ln|Drive|Dr|Boulevard|Blvd|Court|Ct|Way)\b\.?"
    r"(?:,?\s*(?:Apt|Suite|Unit)\.?\s*\d+\w?)?"
)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def _valid_cn_id(text: str) -> bool:
    total = sum(int(d) * w for d, w in zip(text[:17], _ID_WEIGHTS, strict=True))
    month, day = int(text[10:12]), int(text[12:14])
    return 1 <= month <= 12 and 1 <= day <= 31 and _ID_CHECK[total % 11] == text[17].upper()


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def find_pii(text: str) -> list[PIIMatch]:
    """All personal-data spans in `text`, sorted by position, non-overlapping (first, longest wins)."""
    original, text = text, text.translate(_HALFWIDTH)
    found: list[PIIMatch] = []
    for m in _EMAIL.finditer(text):
        found.append(PIIMatch("email", m.start(), m.end(), m.group()))
    for m in _CN_ID.finditer(text):
        if _valid_cn_id(m.group()):
            found.append(PIIMatch("cn_id", m.start(), m.end(), m.group()))
    for m in _CARD.finditer(text):
        digits = re.sub(r"[ -]", "", m.group())
        if 13 <= len(digits) <= 19 and _luhn(digits):
            found.append(PIIMatch("bank_card", m.start(), m.end(), m.group()))
    for pattern in (_PHONE, _PHONE_DASHED):
        for m in pattern.finditer(text):
            found.append(PIIMatch("phone", m.start(), m.end(), m.group()))
    for m in _IM_ACCOUNT.finditer(text):
        found.append(PIIMatch("im_account", m.start("account"), m.end("account"), m.group("account")))
    lower = text.lower()
    # the English pattern's case-blind cue is slow to scan for: tried only where a cue word occurs
    english = any(cue in lower for cue in _NAME_EN_CUES)
    for pattern in (_NAME_ZH, _NAME_EN) if english else (_NAME_ZH,):
        for m in pattern.finditer(text):
            found.append(PIIMatch("name", m.start("name"), m.end("name"), m.group("name")))
    for pattern in (_ADDR_ZH, _ADDR_EN):
        for m in pattern.finditer(text):
            found.append(PIIMatch("address", m.start(), m.end(), m.group()))
    found.sort(key=lambda p: (p.start, -(p.end - p.start)))
    result: list[PIIMatch] = []
    for match in found:
        if not result or match.start >= result[-1].end:
            result.append(PIIMatch(match.kind, match.start, match.end, original[match.start : match.end]))
    return result


def mask_pii(text: str) -> str:
    """`text` with every personal-data span replaced by a placeholder such as [电话]."""
    parts: list[str] = []
    pos = 0
    for match in find_pii(text):
        parts.append(text[pos : match.start])
        parts.append(MASKS[match.kind])
        pos = match.end
    parts.append(text[pos:])
    return "".join(parts)


def contains_pii(text: str) -> bool:
    return bool(find_pii(text))
