"""Interactions: the one input every recommender learns from.

A canonical interactions frame has `customer_id`, `product_id`, `occurred_at` (datetime) and `weight`
(float, > 0), plus optional columns a model may use (`event_type`, a segment column). This module
validates such frames, reads them from files (CSV incl. .gz and GBK, Parquet) and turns them into
integer codes and sparse user × item matrices.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from marketpilot.data.dates import parse_dates
from marketpilot.data.readers import blank, read_frame
from marketpilot.errors import UserError, ValidationFailed

USER, ITEM, TIME, WEIGHT, EVENT = "customer_id", "product_id", "occurred_at", "weight", "event_type"
REQUIRED = (USER, ITEM, TIME)


def validate_interactions(frame: pd.DataFrame, *, source: str = "interactions") -> pd.DataFrame:
    """Check columns and types; return a copy with string ids, datetime time and float weights."""
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise ValidationFailed(
            [f"missing column '{c}'" for c in missing],
            source=source,
            hint=f"An interactions frame needs the columns {', '.join(REQUIRED)} (optionally '{WEIGHT}').",
        )
    out = frame.copy()
    out[USER] = out[USER].astype(str)
    out[ITEM] = out[ITEM].astype(str)
    if not pd.api.types.is_datetime64_any_dtype(out[TIME]):
        out[TIME] = parse_times(out[TIME], column=TIME, source=source)
    out[WEIGHT] = out[WEIGHT].astype("float64") if WEIGHT in out.columns else 1.0
    _check_event_weights(out, source)
    bad = out.index[~(out[WEIGHT] > 0)]
    if len(bad):
        raise ValidationFailed(
            [f"row {int(r) + 1}: column '{WEIGHT}' must be > 0, got {out.at[r, WEIGHT]}" for r in bad[:20]],
            total=len(bad),
            source=source,
        )
    return out


def _check_event_weights(frame: pd.DataFrame, source: str) -> None:
    """A weight mapped from event types (`events["event_type"].map({...})`) is NaN for every type the
    mapping left out: name those types rather than report the rows' 'nan'."""
    if EVENT not in frame.columns:
        return
    unweighted = frame.loc[frame[WEIGHT].isna(), EVENT].astype(str).value_counts()
    if unweighted.empty:
        return
    listed = [
        f"event type '{e}' has no weight ({n} row{'s' if n != 1 else ''})" for e, n in unweighted.items()
    ]
    example = ", ".join(f"'{e}': 1.0" for e in unweighted.index[:3])
    raise ValidationFailed(
        listed,
        source=source,
        hint=f"Map every event type to a weight > 0, e.g. weight=events['{EVENT}'].map({{…, {example}}}) "
        "(`recommend evaluate`: --event-weights view=1,cart=3,…).",
    )


def parse_times(values: pd.Series, *, column: str, source: str) -> pd.Series:
    """ISO dates/datetimes, compact dates (20240305) or Unix epoch seconds (ms/us/ns when the numbers
    are that large)."""
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.notna().all() and numeric.between(19_000_101, 21_001_231).all():  # 20240305: a date
        compact = pd.to_datetime(numeric.astype("int64").astype(str), format="%Y%m%d", errors="coerce")
        if compact.notna().all():
            return compact
    if numeric.notna().all():
        # Present-day epochs are ~1.7e9 s, 1.7e12 ms, 1.7e15 us, 1.7e18 ns: the magnitude names the unit.
        magnitude = float(numeric.abs().median())
        unit = "s" if magnitude < 1e11 else "ms" if magnitude < 1e14 else "us" if magnitude < 1e17 else "ns"
        return pd.to_datetime(numeric, unit=unit)
    # ISO first (fast); otherwise text dates as `load` reads them (2024年3月5日 14:03, 2024/3/5,
    # 05/03/2024 by the column). Times with an offset become UTC, those without stay as written.
    try:
        parsed = pd.to_datetime(values, errors="coerce", format="ISO8601")
    except ValueError:  # offsets in some rows only ("Mixed timezones"): all to UTC
        parsed = pd.to_datetime(values, errors="coerce", format="ISO8601", utc=True)
    if (parsed.isna() & values.notna()).any():
        parsed = parse_dates(values, column=column, source=source, utc=True)
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    bad = parsed.isna() & values.notna()
    if values.isna().any() or bad.any():
        rows = np.flatnonzero(bad.to_numpy() | values.isna().to_numpy())
        raise ValidationFailed(
            [
                f"row {r + 2}: column '{column}' is not a date/time or epoch seconds: {values.iloc[r]!r}"
                for r in rows[:20]
            ],
            source=source,
            total=rows.size,
            hint="Use ISO 8601 (2024-11-11 or 2024-11-11T20:00:00), 2024年11月11日 or Unix epoch seconds.",
        )
    return parsed.astype("datetime64[ns]")


def parse_event_weights(text: str) -> dict[str, float]:
    """`pv=1,cart=3,buy=5` → {"pv": 1.0, "cart": 3.0, "buy": 5.0}."""
    weights: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        try:
            weight = float(value)
        except ValueError:
            weight = float("nan")
        if not sep or not name.strip() or not weight > 0:
            raise UserError(
                f"Bad event weight '{part}' in --event-weights.",
                hint="Write it as pv=1,cart=3,buy=5 (weights > 0).",
            )
        weights[name.strip()] = weight
    return weights


def _read_table(path: Path, columns: list[str]) -> pd.DataFrame:
    frame = read_frame(path)
    absent = [c for c in columns if c not in frame.columns]
    if absent:
        raise ValidationFailed(
            [f"missing column '{c}'" for c in absent],
            source=str(path),
            hint=f"Columns in the file: {', '.join(map(str, frame.columns))}",
        )
    return frame[columns]


def read_interactions(
    path: Path,
    *,
    user_col: str,
    item_col: str,
    time_col: str,
    event_col: str | None = None,
    event_weights: Mapping[str, float] | None = None,
    extra_cols: tuple[str, ...] = (),
    quantity_col: str | None = None,
    item_pattern: str | None = None,
) -> pd.DataFrame:
    """Read any interactions file into the canonical frame. Rows without a user or item are dropped
    (anonymous traffic); events not named in `event_weights` are an error, not silently ignored.

    Order-line exports mix purchases with other lines: with `quantity_col`, only rows whose quantity
    is > 0 count (cancellations and returns carry negative quantities); with `item_pattern`, only
    items whose id contains a match of that regular expression are products (Online Retail:
    `[0-9]{2}` leaves out POST, M, C2, DOT, BANK CHARGES… — postage, fees and manual entries)."""
    optional = [c for c in (event_col, quantity_col) if c]
    wanted = list(dict.fromkeys([user_col, item_col, time_col, *optional, *extra_cols]))
    raw = _read_table(Path(path), wanted)
    raw = raw[~blank(raw[user_col]) & ~blank(raw[item_col])]
    if quantity_col:
        raw = raw[_positive_quantity(raw[quantity_col], column=quantity_col, source=str(path))]
    if item_pattern:
        raw = raw[raw[item_col].astype(str).str.strip().str.contains(_compile(item_pattern), regex=True)]
    frame = pd.DataFrame(
        {
            USER: raw[user_col].astype(str).str.strip().to_numpy(),
            ITEM: raw[item_col].astype(str).str.strip().to_numpy(),
            TIME: parse_times(raw[time_col].reset_index(drop=True), column=time_col, source=str(path)),
        }
    )
    for col in extra_cols:
        frame[col] = raw[col].to_numpy()
    if event_col:
        events = raw[event_col].astype(str).str.strip().to_numpy()
        frame[EVENT] = events
        if event_weights:
            unknown = sorted(set(np.unique(events)) - set(event_weights))
            if unknown:
                example = ",".join(f"{e}=1" for e in unknown[:3])
                raise UserError(
                    f"{path}: event types without a weight: {', '.join(unknown[:10])}.",
                    hint=f"Give every event type a weight, e.g. --event-weights {example}",
                )
            frame[WEIGHT] = pd.Series(events).map(dict(event_weights)).to_numpy(dtype="float64")
    if WEIGHT not in frame.columns:
        frame[WEIGHT] = 1.0
    if frame.empty:
        raise UserError(
            f"{path}: no interactions with both a user and an item"
            + (" (after the quantity and item filters)." if quantity_col or item_pattern else ".")
        )
    return frame


def _positive_quantity(values: pd.Series, *, column: str, source: str) -> np.ndarray:
    numeric = pd.to_numeric(values, errors="coerce")
    bad = np.flatnonzero(numeric.isna().to_numpy())
    if len(bad):
        raise ValidationFailed(
            [
                f"row {int(values.index[r]) + 2}: column '{column}' is not a number: {values.iloc[r]!r}"
                for r in bad[:20]
            ],
            total=len(bad),
            source=source,
        )
    return (numeric > 0).to_numpy()


def _compile(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise UserError(
            f"--item-pattern {pattern!r} is not a regular expression: {exc}.",
            hint="For example '[0-9]' keeps item ids that contain a digit.",
        ) from None


@dataclass(frozen=True)
class Encoded:
    """Integer-coded interactions: parallel arrays, one entry per row of the frame."""

    users: np.ndarray  # int32 codes into user_index
    items: np.ndarray  # int32 codes into item_index
    weights: np.ndarray  # float32
    age_days: np.ndarray  # float32, days before the end of the window (>= 0)
    n_users: int
    n_items: int

    def matrix(self, weights: np.ndarray | None = None) -> sp.csr_matrix:
        """User × item CSR, duplicate (user, item) rows summed."""
        values = self.weights if weights is None else weights
        return to_csr(self.users, self.items, values, (self.n_users, self.n_items))

    def decayed(self, half_life_days: float | None) -> np.ndarray:
        """Weights multiplied by 0.5 ** (age / half-life): recent behaviour counts more."""
        if not half_life_days:
            return self.weights
        return (self.weights * np.exp2(-self.age_days / half_life_days)).astype(np.float32)


def to_csr(rows: np.ndarray, cols: np.ndarray, values: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    matrix = sp.csr_matrix((values.astype(np.float32), (rows, cols)), shape=shape)
    matrix.sum_duplicates()
    return matrix


def encode(frame: pd.DataFrame, users: np.ndarray, items: np.ndarray, n_users: int, n_items: int) -> Encoded:
    """A validated frame with its rows' customer and product codes (from `pd.factorize`)."""
    times = frame[TIME].to_numpy(dtype="datetime64[ns]")
    end = times.max()
    age = ((end - times) / np.timedelta64(1, "D")).astype(np.float32)
    return Encoded(
        users=users.astype(np.int32),
        items=items.astype(np.int32),
        weights=frame[WEIGHT].to_numpy(dtype=np.float32),
        age_days=age,
        n_users=n_users,
        n_items=n_items,
    )
