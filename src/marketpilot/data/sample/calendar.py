"""The shop's calendar: how busy each day is, and clock times within a day.

Purchases are simulated in "operational time", where one unit is an average day of shopping; mapping
back through the cumulative daily intensity puts more orders on 双11, 618 and before 春节 and fewer in
the 春节 holiday itself, without any per-order loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from marketpilot.errors import UserError

# Lunar new year (春节) dates; the shop calendar is only defined where they are known.
SPRING_FESTIVAL = {
    2015: date(2015, 2, 19),
    2016: date(2016, 2, 8),
    2017: date(2017, 1, 28),
    2018: date(2018, 2, 16),
    2019: date(2019, 2, 5),
    2020: date(2020, 1, 25),
    2021: date(2021, 2, 12),
    2022: date(2022, 2, 1),
    2023: date(2023, 1, 22),
    2024: date(2024, 2, 10),
    2025: date(2025, 1, 29),
    2026: date(2026, 2, 17),
    2027: date(2027, 2, 6),
    2028: date(2028, 1, 26),
    2029: date(2029, 2, 13),
    2030: date(2030, 2, 3),
}

# Monday..Sunday: evenings and weekends sell a little more.
WEEKDAY = np.array([0.95, 0.93, 0.95, 0.97, 1.02, 1.10, 1.08])

# Share of a day's orders per hour: a late-morning bump and the 20:00–23:00 evening peak.
HOURLY = np.array(
    [2.0, 1.2, 0.6, 0.3, 0.2, 0.3, 0.8, 1.8, 3.0, 4.2, 5.0, 5.3,
     5.0, 4.6, 4.5, 4.6, 4.6, 4.7, 5.2, 6.0, 7.2, 8.0, 7.4, 4.5]
)  # fmt: skip
# On 双11 itself the first hour after midnight is the busiest of the year.
HOURLY_11_11 = HOURLY.copy()
HOURLY_11_11[0] = 40.0


@dataclass(frozen=True)
class ShopCalendar:
    """Daily intensity over [start, end] (inclusive); `cumulative[d]` is the operational time at the
    start of day d, so `cumulative[-1]` equals the number of days."""

    start: date
    days: int
    intensity: np.ndarray
    cumulative: np.ndarray
    double11: np.ndarray
    promotion: np.ndarray  # festival promotion periods (跨店满减): 双11, 618, 双12

    @classmethod
    def build(cls, start: date, end: date) -> ShopCalendar:
        if end < start:
            raise UserError(f"The end date {end} is before the start date {start}.")
        # Days after June look ahead to the next year's 春节 (the 年货节 build-up).
        if not set(range(start.year, end.year + 2)) <= set(SPRING_FESTIVAL):
            first, last = date(min(SPRING_FESTIVAL), 1, 1), date(max(SPRING_FESTIVAL) - 1, 12, 31)
            raise UserError(
                f"Sample data can only be generated for dates from {first} to {last}; got {start} to {end}.",
                hint="Choose --start/--end dates in that range.",
            )
        days = (end - start).days + 1
        dates = [start + timedelta(days=i) for i in range(days)]
        intensity = np.array([_day_intensity(d) for d in dates]) * WEEKDAY[[d.weekday() for d in dates]]
        intensity *= days / intensity.sum()
        cumulative = np.concatenate([[0.0], np.cumsum(intensity)])
        double11 = np.array([(d.month, d.day) == (11, 11) for d in dates])
        promotion = np.array([_is_promotion(d) for d in dates])
        return cls(start, days, intensity, cumulative, double11, promotion)

    @property
    def epoch(self) -> np.datetime64:
        """Midnight of the first day; timestamps are naive wall-clock time in the shop's zone."""
        return np.datetime64(self.start.isoformat(), "s")

    def to_day(self, operational: np.ndarray) -> np.ndarray:
        """Calendar day index for each operational time (inverse of the cumulative intensity)."""
        day = np.searchsorted(self.cumulative, operational, side="right") - 1
        return np.clip(day, 0, self.days - 1)

    def to_operational(self, day: np.ndarray) -> np.ndarray:
        """Operational time at fractional calendar day `day`."""
        return np.interp(day, np.arange(self.days + 1), self.cumulative)

    def month(self, day: np.ndarray) -> np.ndarray:
        """Month of the year (0 = January) of calendar day indices."""
        dates = self.epoch.astype("datetime64[D]") + day
        return dates.astype("datetime64[M]").astype(np.int64) % 12

    def festival(self, day: np.ndarray) -> np.ndarray:
        """True in the festival promotion periods (双11 from 24 Oct, 618 from 1 June, 双12)."""
        return self.promotion[day]

    def timestamps(self, rng: np.random.Generator, day: np.ndarray) -> np.ndarray:
        """Seconds since `epoch` for an order on each calendar `day`, with a realistic clock time."""
        hours = _hours(rng, day, self.double11[day])
        seconds = rng.integers(0, 3600, size=day.size)
        return day.astype(np.int64) * 86400 + hours * 3600 + seconds


def _hours(rng: np.random.Generator, day: np.ndarray, double11: np.ndarray) -> np.ndarray:
    normal = np.searchsorted(np.cumsum(HOURLY) / HOURLY.sum(), rng.random(day.size), side="right")
    special = np.searchsorted(
        np.cumsum(HOURLY_11_11) / HOURLY_11_11.sum(), rng.random(day.size), side="right"
    )
    return np.minimum(np.where(double11, special, normal), 23).astype(np.int64)


def _is_promotion(d: date) -> bool:
    return (
        (d.month == 10 and d.day >= 24)
        or (d.month == 11 and d.day <= 11)
        or (d.month == 6 and d.day <= 18)
        or (d.month, d.day) == (12, 12)
    )


def _day_intensity(d: date) -> float:
    """Relative sales intensity of one day, before the weekday pattern."""
    level = 1.0
    # 双11: pre-sales from late October, the 11th itself is the peak of the year.
    if d.month == 11:
        if d.day == 11:
            level *= 9.0
        elif d.day < 11:
            level *= 1.6 + 0.12 * d.day
        else:
            level *= 1.35
    if d.month == 10 and d.day >= 20:
        level *= 1.3
    # 双12 and the 年货节 / New-year gifting season.
    if d.month == 12 and d.day == 12:
        level *= 3.0
    # 618 mid-year festival: June 1–18, peaking on the 18th.
    if d.month == 6 and d.day <= 18:
        level *= 4.0 if d.day == 18 else 1.35 + 0.05 * d.day
    # 38 女王节 (beauty / fashion).
    if d.month == 3 and d.day in (7, 8):
        level *= 1.8
    # 春节: stocking up in the three weeks before, near silence while couriers are off.
    festival = SPRING_FESTIVAL[d.year if d.month <= 6 else d.year + 1]
    offset = (d - festival).days
    if -21 <= offset < -7:
        level *= 1.45
    elif -7 <= offset < 0:
        level *= 0.75
    elif 0 <= offset < 7:
        level *= 0.35
    elif 7 <= offset < 14:
        level *= 0.8
    return level
