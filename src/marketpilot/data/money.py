"""Minor units and major units per currency. Money is stored as integer minor units (分, cents), but
not every currency has 100 of them: JPY and KRW have none, KWD and BHD have 1,000."""

from __future__ import annotations

# Currencies whose minor unit is not 1/100.
MINOR_DIGITS = {"JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0, "KWD": 3, "BHD": 3, "JOD": 3, "OMR": 3}


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
