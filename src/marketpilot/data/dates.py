"""Dates as shops write them, read one way per column. 05/03/2024 is the 5th of March in a file whose
other rows say 13/03/2024 and the 3rd of May in one that says 03/13/2024; read row by row, as a
parser does on its own, one file gets both. A column that says both is refused; one whose numbers all
fit either order is read month first (as pandas does), and dots (05.03.2024) are always day first."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from marketpilot.errors import UserError, ValidationFailed

# day/month or month/day, then the year (4 or 2 digits), then an optional time
_NUMERIC_DATE = r"^\s*(\d{1,2})([/.\-])(\d{1,2})\2(\d{4}|\d{2})((?:[\sT].*)?)$"


# 2024年3月5日 14:03, 2024年3月 (a month), 2024年3月5号: the year-month-day Chinese back offices write
_CHINESE_DATE = r"^\s*(\d{4})\s*年\s*(\d{1,2})\s*月(?:\s*(\d{1,2})\s*[日号])?"


def parse_dates(values: pd.Series, *, column: str, source: str, utc: bool = False) -> pd.Series:
    """Datetimes from text; NaT where a cell is no date. `utc` for cells with offsets to compare."""
    text = values.astype("string")
    text = text.str.replace(
        _CHINESE_DATE, lambda m: f"{m[1]}-{m[2]}" + (f"-{m[3]}" if m[3] else ""), regex=True
    )
    parts = text.str.extract(_NUMERIC_DATE)
    numeric = parts[0].notna().to_numpy()
    if numeric.any():
        first = parts[0].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        second = parts[2].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        day_only_first = np.flatnonzero(first > 12)
        day_only_second = np.flatnonzero(second > 12)
        if day_only_first.size and day_only_second.size:
            d, m = day_only_first[0], day_only_second[0]
            raise ValidationFailed(
                [
                    f"row {d + 2}, column {column!r}: {values.iloc[d]!r} is day first",
                    f"row {m + 2}, column {column!r}: {values.iloc[m]!r} is month first",
                ],
                source=source,
                hint="the column mixes day/month and month/day dates; write them as 2024-03-05",
            )
        dots = (parts[1] == ".").fillna(False).to_numpy()
        day_first = bool(day_only_first.size) or bool(dots[numeric].all())
        day, month = (parts[0], parts[2]) if day_first else (parts[2], parts[0])
        year = parts[3].where(
            parts[3].str.len() == 4, ("20" + parts[3]).where(parts[3] < "69", "19" + parts[3])
        )
        iso = year + "-" + month.str.zfill(2) + "-" + day.str.zfill(2) + parts[4].fillna("")
        text = text.where(~pd.Series(numeric, index=text.index), iso)
    parsed = pd.to_datetime(text, errors="coerce", format="mixed", utc=utc)
    # Unix time, as e-mail and SMS providers' webhooks send it: 10 digits of seconds, 13 of
    # milliseconds (2001–2033), read as UTC
    epoch = text.str.fullmatch(r"\s*1(\d{9}|\d{12})(\.\d+)?\s*").fillna(False).to_numpy(dtype=bool)
    if epoch.any():
        seconds = pd.to_numeric(text[epoch]).to_numpy(dtype=float)
        seconds = np.where(seconds > 1e11, seconds / 1000, seconds)
        stamps = pd.to_datetime(seconds, unit="s", utc=utc)
        parsed = parsed.copy()
        parsed[epoch] = stamps
    return parsed


def as_date(value: dt.date | str | None, name: str) -> dt.date | None:
    """A day given to a library function as a date, a datetime (its day) or ISO text ("2025-06-30"),
    as a notebook writes it; anything else is a UserError naming the argument, not a TypeError deep in
    the date arithmetic."""
    if value is None or type(value) is dt.date:
        return value
    if isinstance(value, dt.datetime):  # pandas' Timestamp too
        return value.date()
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise UserError(f"{name} must be a date like 2025-06-30, got {value!r}.")
