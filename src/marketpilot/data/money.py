"""Minor units and major units per currency. Money is stored as integer minor units (分, cents), but
not every currency has 100 of them: JPY and KRW have none, KWD and BHD have 1,000."""

from __future__ import annotations

from functools import cache
from importlib.resources import files

import duckdb

# The shop's currency (settings.currency) as a DuckDB variable that `Store` sets on its connection:
# the purchase rule (analytics/purchases.py) keeps money figures in it. NULL on other connections.
SHOP_CURRENCY_VARIABLE = "marketpilot_currency"
SHOP_CURRENCY_SQL = f"getvariable('{SHOP_CURRENCY_VARIABLE}')"

# Currencies whose minor unit is not 1/100.
MINOR_DIGITS = {"JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0, "KWD": 3, "BHD": 3, "JOD": 3, "OMR": 3}


@cache
def iso_4217_codes() -> frozenset[str]:
    """The ISO 4217 alphabetic codes (the shipped iso4217.txt says where the list comes from)."""
    text = files("marketpilot.data").joinpath("iso4217.txt").read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def minor_digits(currency: object) -> int:
    """Digits of the minor unit; 2 for a blank or unknown currency."""
    return MINOR_DIGITS.get(str(currency).strip().upper(), 2) if currency else 2


def to_major(minor: float, currency: object) -> float:
    """1200 minor units: ¥1,200 in JPY, ¥12 in CNY."""
    return minor / 10 ** minor_digits(currency)


def scale_sql(currency: str, default_digits: int = 2) -> str:
    """SQL of 10^digits for the currency (SQL text) of each row; `default_digits` where it is blank
    or not listed."""
    cases = " ".join(f"WHEN '{code}' THEN {10**d}" for code, d in MINOR_DIGITS.items())
    return f"(CASE upper(trim({currency})) {cases} ELSE {10**default_digits} END)"


# What shops' exports write in a currency column besides ISO codes (币种: 人民币). "¥" is left as written:
# it is the yuan's sign and the yen's, and only the shop knows which (a mapping's `values:` decides).
CURRENCY_WORDS: dict[str, str] = {
    **dict.fromkeys(("人民币", "人民币元", "元", "rmb", "cny￥", "rmb￥"), "CNY"),
    **dict.fromkeys(("日元", "日圆", "円"), "JPY"),
    **dict.fromkeys(("美元", "美金", "us$", "usd$"), "USD"),
    **dict.fromkeys(("港币", "港元", "港幣", "hk$"), "HKD"),
    **dict.fromkeys(("新台币", "新台幣", "台币", "nt$"), "TWD"),
    **dict.fromkeys(("欧元", "€"), "EUR"),
    **dict.fromkeys(("英镑", "£"), "GBP"),
    **dict.fromkeys(("韩元", "韩币", "₩"), "KRW"),
}


def currency_sql(text: str) -> str:
    """SQL of the ISO code for a currency column's text (SQL): codes in any case, and the words and
    signs of CURRENCY_WORDS; anything else upper-cased as written."""
    cases = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in CURRENCY_WORDS.items())  # no quotes in them
    return f"CASE lower(trim({text})) {cases} ELSE upper(trim({text})) END"


def set_shop_currency(con: duckdb.DuckDBPyConnection, currency: str) -> None:
    """Record the shop's currency on `con` (read back as SHOP_CURRENCY_SQL)."""
    code = currency.strip().upper().replace("'", "''")
    con.execute(f"SET VARIABLE {SHOP_CURRENCY_VARIABLE} = '{code}'")
