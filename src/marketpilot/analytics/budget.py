"""Splitting a marketing budget across channels by their diminishing returns.

Each channel's history (spend and the outcome it brought, per period) is fitted with a saturating
response curve, outcome = a · (1 − exp(−spend / b)): `a` is what the channel could bring at most, `a/b`
the return of its first unit of money. The best split of a total equalises the marginal returns
(a/b · exp(−spend / b)) across channels, found by bisection on that common return. Each channel is
capped at `max_scale` × the largest spend its history saw: the curve says nothing reliable beyond
what was measured, so money the caps do not admit is reported as unallocated, not spent on a guess.

With a period column the history is read in order and each channel may carry over (adstock): a
period's effective spend is its own plus `carryover` × the previous period's effective spend, so
money keeps working after it is spent (a brand campaign, a feed ad seen again). `carryover` is chosen
per channel from 0, 0.1 … 0.8 by how well the curve fits the effective spend; it is kept only when it
explains at least 2 % of the variance that no carry-over leaves unexplained, so noise does not buy
a carry-over. A steady spend s per period then builds up to an effective s / (1 − carryover), which
is the curve the split uses: outcome = a · (1 − exp(−s / (b · (1 − carryover)))).

With an event column (festival weeks, 618, 双11, a sitewide sale) those periods get their own
multiplier: outcome = curve(spend) · (1 + event_uplift). Shops spend more in exactly the periods
that sell more anyway, and a curve fitted through both reads the festival's demand as the return on
its spend: it sees no saturation where there is some and sends too much money to the channels pushed
hardest in festivals. The split is for an ordinary period, or, with `for_event`, for an event period
(each channel's curve scaled by its own uplift).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field
from scipy.optimize import curve_fit

from marketpilot.config import Settings
from marketpilot.data.dates import parse_dates
from marketpilot.data.mapping import parse_amounts
from marketpilot.data.readers import read_frame, require_columns, require_filled
from marketpilot.errors import UserError, ValidationFailed

MIN_POINTS = 4
CARRYOVERS = tuple(round(0.1 * i, 1) for i in range(9))
# Share of the no-carry-over residual variance a carry-over must explain to be believed.
MIN_CARRYOVER_GAIN = 0.02
# A curve explaining less of its channel's outcome than this is flagged: the split still uses it,
# but the spend there shows little relation to the outcome, so its share rests on little evidence.
WEAK_FIT_R2 = 0.5


class HistoryFile(BaseModel):
    path: Path
    channel_col: str = "channel"
    spend_col: str = "spend"
    outcome_col: str = "revenue"
    period_col: str | None = None  # the order of the periods, for carry-over
    event_col: str | None = None  # marks festival / sitewide-sale periods (1/0, 是/否, or an event name)


class ResponseCurve(BaseModel):
    channel: str
    a: float = Field(description="the most the channel can bring (saturation)")
    b: float = Field(description="effective-spend scale: at b the channel brings 63 % of a")
    carryover: float = Field(default=0.0, description="share of a period's effect that carries to the next")
    event_uplift: float = Field(
        default=0.0, description="extra outcome in event periods at the same spend (0.5 = +50 %)"
    )
    r2: float
    points: int
    max_spend_seen: float

    @property
    def steady_scale(self) -> float:
        """The spend scale of a steady spend per period (carry-over builds it up by 1 / (1 − c))."""
        return self.b * (1 - self.carryover)

    def outcome(self, spend: np.ndarray | float) -> np.ndarray:
        """Outcome per period of spending `spend` every period."""
        return self.a * (1 - np.exp(-np.asarray(spend, dtype=float) / self.steady_scale))

    def marginal(self, spend: np.ndarray | float) -> np.ndarray:
        return self.a / self.steady_scale * np.exp(-np.asarray(spend, dtype=float) / self.steady_scale)

    def during_event(self) -> ResponseCurve:
        """The curve of an event period: the same saturation, `1 + event_uplift` times the outcome."""
        return self.model_copy(update={"a": self.a * (1 + self.event_uplift)})


class ChannelSplit(BaseModel):
    channel: str
    spend: float
    share: float
    expected_outcome: float
    marginal_return: float = Field(description="outcome per extra unit of spend at this spend")
    capped: bool = Field(description="held at max_scale × the largest spend the history saw")
    current_spend: float = Field(description="this channel's part of the total at today's split")


class Allocation(BaseModel):
    total: float
    allocated: float
    unallocated: float
    expected_outcome: float
    current_split_outcome: float
    equal_split_outcome: float
    channels: list[ChannelSplit]


def read_history(spec: HistoryFile) -> pd.DataFrame:
    frame = read_frame(spec.path)
    columns = [spec.channel_col, spec.spend_col, spec.outcome_col]
    require_columns(frame, columns, spec.path, "name them with --channel-col, --spend-col, --outcome-col")
    if spec.period_col:
        require_columns(frame, [spec.period_col], spec.path, "name it with --period-col")
    if spec.event_col:
        require_columns(frame, [spec.event_col], spec.path, "name it with --event-col")
    if frame.empty:
        raise UserError(
            f"{spec.path}: the file has a header but no rows", hint="one row per channel and period"
        )
    require_filled(frame, spec.channel_col, spec.path, "every row names its channel")
    out = pd.DataFrame({"channel": frame[spec.channel_col].astype(str).str.strip()})
    problems = []
    for column, name in ((spec.spend_col, "spend"), (spec.outcome_col, "outcome")):
        raw = frame[column].astype(object).where(frame[column].notna(), "").astype(str)
        values = parse_amounts(raw)
        # Above 10^12 a row is a unit or typing error (1e308 broke the curve fit), not a budget.
        bad = np.flatnonzero((values.isna() | (values < 0) | (values > 1e12)).to_numpy())
        problems += [f"row {i + 2}, column {column!r}: {raw.iloc[i]!r} is not an amount ≥ 0" for i in bad]
        out[name] = values
    if problems:
        raise ValidationFailed(problems, source=str(spec.path))
    if spec.event_col:
        out["event"] = event_flags(frame[spec.event_col])
    if spec.period_col:
        out["period"] = _periods(frame[spec.period_col], spec)
        repeated = out[out.duplicated(["channel", "period"])]
        if len(repeated):
            channel, row = repeated.iloc[0]["channel"], int(repeated.index[0])
            raise UserError(
                f"{spec.path}, row {row + 2}: channel {channel!r} has this period "
                f"({frame[spec.period_col].iloc[row]!r}) more than once",
                hint="one row per channel and period",
            )
        out = out.sort_values(["channel", "period"], kind="stable").reset_index(drop=True)
    return out


# What an event column says when a period is ordinary; anything else (1, 是, 双11, 618) marks an event.
NO_EVENT = frozenset({"", "0", "0.0", "false", "no", "n", "none", "nan", "否", "无", "不是", "-"})


def event_flags(raw: pd.Series) -> pd.Series:
    """1 for the periods an event column marks (a flag or the event's name), else 0."""
    text = raw.astype(str).str.strip().str.lower().where(raw.notna(), "")
    return (~text.isin(NO_EVENT)).astype(int)


_ISO_WEEK = re.compile(r"^\s*(\d{4})\s*(?:-|/|年)?\s*(?:W|第)\s*(\d{1,2})\s*周?\s*$", re.IGNORECASE)


def _week_start(text: str) -> str | None:
    """The Monday of an ISO week written 2026-W02, 2026W2 or 2026年第2周; None for anything else."""
    match = _ISO_WEEK.match(text)
    if not match:
        return None
    try:
        return dt.date.fromisocalendar(int(match[1]), int(match[2]), 1).isoformat()
    except ValueError:  # week 54
        return None


def _periods(raw: pd.Series, spec: HistoryFile) -> pd.Series:
    """Period numbers (1, 2, …), dates or ISO weeks (2026-W02, 2026年第2周) in sortable form."""
    numbers = pd.to_numeric(raw, errors="coerce")
    if numbers.notna().all():
        return numbers
    text = raw.astype(str)
    weeks = text.map(_week_start)
    dates = parse_dates(weeks.fillna(text), column=str(spec.period_col), source=str(spec.path))
    bad = np.flatnonzero(dates.isna().to_numpy())
    if bad.size:
        problems = [
            f"row {i + 2}, column {spec.period_col!r}: {raw.iloc[i]!r} is not a number, a date or a week "
            "(2026-W02)"
            for i in bad
        ]
        raise ValidationFailed(problems, source=str(spec.path))
    return dates


def adstock(spend: np.ndarray, carryover: float) -> np.ndarray:
    """Effective spend per period: its own plus `carryover` × the previous period's effective spend."""
    out = np.empty(len(spend))
    level = 0.0
    for i, s in enumerate(spend):
        level = s + carryover * level
        out[i] = level
    return out


def fit_curve(
    channel: str,
    spend: np.ndarray,
    outcome: np.ndarray,
    *,
    ordered: bool = False,
    event: np.ndarray | None = None,
) -> ResponseCurve:
    """The saturating curve of one channel; with `ordered` periods, the best carry-over too; with
    `event` flags (1 = festival period), the events' own multiplier."""
    carryovers = CARRYOVERS if ordered else (0.0,)
    if event is not None and not 0 < int(event.sum()) < len(event):
        event = None  # every period or none an event: nothing to tell the event from the channel
    fits = [_fit(channel, adstock(spend, c), outcome, spend, event) | {"carryover": c} for c in carryovers]
    best = max(fits, key=lambda f: f["r2"])
    unexplained = 1 - fits[0]["r2"]
    if best["r2"] - fits[0]["r2"] < MIN_CARRYOVER_GAIN * unexplained:
        best = fits[0]
    return ResponseCurve(channel=channel, points=len(spend), max_spend_seen=float(spend.max()), **best)


def _fit(
    channel: str, spend: np.ndarray, outcome: np.ndarray, raw: np.ndarray, event: np.ndarray | None
) -> dict[str, float]:
    if len(np.unique(raw)) < MIN_POINTS:
        raise UserError(
            f"channel {channel!r}: {len(np.unique(raw))} distinct spend levels; at least {MIN_POINTS} are "
            "needed to see where returns diminish",
            hint="add periods with different spend, or leave the channel out of the file",
        )
    flags = np.zeros(len(spend)) if event is None else event.astype(float)

    def curve(x: np.ndarray, a: float, b: float, u: float = 0.0) -> np.ndarray:
        s, e = x
        return a * (1 - np.exp(-s / b)) * (1 + u * e)

    top = float(spend.max())
    start = [max(float(outcome.max()) * 1.5, 1e-9), max(float(np.median(spend)), 1e-9)]
    low, high = [0, top * 1e-3], [np.inf, top * 1e3]
    if event is not None:  # an event may also sell less (a rival's festival): -90 % to +1000 %
        start, low, high = [*start, 0.0], [*low, -0.9], [*high, 10.0]
    x = np.vstack([spend, flags])
    try:
        params, _ = curve_fit(curve, x, outcome, p0=start, bounds=(low, high))
    except RuntimeError as exc:
        raise UserError(f"channel {channel!r}: no response curve fits its history ({exc})") from None
    residual = outcome - curve(x, *params)
    spread = float(np.sum((outcome - outcome.mean()) ** 2))
    r2 = 1 - float(np.sum(residual**2)) / spread if spread else 0.0
    uplift = float(params[2]) if event is not None else 0.0
    return {
        "a": float(params[0]),
        "b": float(params[1]),
        "event_uplift": round(uplift, 4),
        "r2": round(r2, 4),
    }


def fit_curves(history: pd.DataFrame) -> list[ResponseCurve]:
    """A curve per channel; with a `period` column (rows in period order) carry-over is fitted too,
    with an `event` column the events' multiplier."""
    ordered = "period" in history.columns
    return [
        fit_curve(
            str(channel),
            group["spend"].to_numpy(),
            group["outcome"].to_numpy(),
            ordered=ordered,
            event=group["event"].to_numpy() if "event" in group else None,
        )
        for channel, group in history.groupby("channel", sort=True)
    ]


def _spend_at(curves: list[ResponseCurve], caps: np.ndarray, floors: np.ndarray, level: float) -> np.ndarray:
    """Per channel, the spend whose marginal return is `level`, within [floor, cap]."""
    a, b = np.array([c.a for c in curves]), np.array([c.steady_scale for c in curves])
    with np.errstate(divide="ignore"):
        spend = b * np.log(np.maximum(a / (b * level), 1.0))
    return np.clip(spend, floors, caps)


def check_budget(total: float, floors: dict[str, float], max_scale: float) -> None:
    """The budget, the minimums and the cap as amounts a split can honour (NaN or an infinite budget
    would reach the table as NaN and inf)."""
    if not math.isfinite(total) or total <= 0:
        raise UserError(f"--total: the budget must be a positive amount, got {total}")
    if not math.isfinite(max_scale) or max_scale <= 0:
        raise UserError(
            f"--max-scale must be a positive multiple of the largest spend seen, got {max_scale}",
            hint="2 lets a channel spend up to twice the most its history saw",
        )
    bad = {name: amount for name, amount in floors.items() if not math.isfinite(amount) or amount < 0}
    if bad:
        raise UserError(
            "--min takes an amount of at least 0: " + ", ".join(f"{n}={a}" for n, a in bad.items()),
            hint="e.g. --min 短信=5000",
        )


def allocate(
    curves: list[ResponseCurve],
    total: float,
    *,
    current: dict[str, float] | None = None,
    floors: dict[str, float] | None = None,
    max_scale: float = 2.0,
) -> Allocation:
    """The split of `total` that maximises the summed expected outcome. `current`: the shares spent
    today (`historical_shares`), to compare against (default: equal); `floors`: minimum spend per
    channel (contracts, brand presence)."""
    check_budget(total, floors or {}, max_scale)
    names = [c.channel for c in curves]
    unknown = set(floors or {}) - set(names)
    if unknown:
        # in words both the CLI (--min) and the API (minimum) can use
        raise UserError(
            f"a minimum is given for channels not in the history: {', '.join(sorted(unknown))}",
            hint=f"channels in the history: {', '.join(sorted(names))}",
        )
    low = np.array([(floors or {}).get(n, 0.0) for n in names])
    caps = np.maximum(np.array([c.max_spend_seen * max_scale for c in curves]), low)
    if low.sum() > total:
        raise UserError(f"the minimum spends add up to {low.sum():,.2f}, more than the budget {total:,.2f}")
    if caps.sum() <= total:
        spend = caps
    else:
        hi = max(float(np.max([c.a / c.steady_scale for c in curves])), 1e-12)
        lo = hi * 1e-12
        for _ in range(200):  # bisection on the common marginal return, in log space
            mid = np.sqrt(lo * hi)
            if _spend_at(curves, caps, low, mid).sum() > total:
                lo = mid
            else:
                hi = mid
        spend = _spend_at(curves, caps, low, hi)
        spend *= min(1.0, total / spend.sum()) if spend.sum() else 1.0
    outcome = np.array([float(c.outcome(s)) for c, s in zip(curves, spend, strict=True)])

    def value_of(shares: np.ndarray) -> float:
        # held to the same caps as the split: beyond them a curve's outcome is a guess, and a split
        # credited with that guess would look better than the one recommended
        spent = np.minimum(total * shares, caps)
        return float(sum(float(c.outcome(s)) for c, s in zip(curves, spent, strict=True)))

    share = np.array([(current or {}).get(n, 1.0) for n in names], dtype=float)
    return Allocation(
        total=total,
        allocated=round(float(spend.sum()), 2),
        unallocated=round(total - float(spend.sum()), 2),
        expected_outcome=round(float(outcome.sum()), 2),
        current_split_outcome=round(value_of(share / share.sum()), 2),
        equal_split_outcome=round(value_of(np.full(len(curves), 1 / len(curves))), 2),
        channels=[
            ChannelSplit(
                channel=c.channel,
                spend=round(float(s), 2),
                share=round(float(s / total), 4),
                expected_outcome=round(float(o), 2),
                marginal_return=round(float(c.marginal(s)), 4),
                capped=bool(np.isclose(s, cap)) and cap > 0,
                current_spend=round(float(total * today), 2),
            )
            for c, s, o, cap, today in zip(curves, spend, outcome, caps, share / share.sum(), strict=True)
        ],
    )


def historical_shares(history: pd.DataFrame) -> dict[str, float]:
    """Each channel's share of the history's total spend: the split a team runs today."""
    spend = history.groupby("channel")["spend"].sum()
    return {str(k): float(v) for k, v in (spend / spend.sum()).items()}


class BudgetPlan(BaseModel):
    curves: list[ResponseCurve]
    allocation: Allocation
    for_event: bool = Field(default=False, description="the split is for an event period")
    weak_fits: list[str] = Field(
        default_factory=list, description=f"channels whose curve has R² under {WEAK_FIT_R2}"
    )
    currency: str | None = Field(default=None, description="of the spend: the shop's, when planned for one")
    table_path: Path | None = None
    table_csv: Path | None = None
    chart_path: Path | None = None


def plan_budget(
    spec: HistoryFile,
    total: float,
    *,
    floors: dict[str, float] | None = None,
    max_scale: float = 2.0,
    for_event: bool = False,
    settings: Settings | None = None,
) -> BudgetPlan:
    """Fit every channel's curve from the history file and split `total` for an ordinary period (with
    `for_event`, for an event period); with `settings`, the split and a chart of the curves are
    written under <home>/decisions/budget/."""
    if for_event and not spec.event_col:
        raise UserError("planning for an event period needs the history's event column", hint="--event-col")
    check_budget(total, floors or {}, max_scale)  # before the file: a bad flag is the quicker fix
    history = read_history(spec)
    if for_event and not history["event"].any():
        # without one, every uplift is 0 and the "event" split would be the ordinary one relabelled
        raise UserError(
            f"{spec.path}: no period is marked as an event in {spec.event_col!r}: there is no event period "
            "to split for",
            hint="mark festival periods with 1, 是 or the event's name (empty, 0, 否, 无 are ordinary), "
            "or leave out --for-event",
        )
    curves = fit_curves(history)
    planned = [c.during_event() for c in curves] if for_event else curves
    allocation = allocate(
        planned, total, current=historical_shares(history), floors=floors, max_scale=max_scale
    )
    weak = [c.channel for c in curves if c.r2 < WEAK_FIT_R2]
    plan = BudgetPlan(curves=curves, allocation=allocation, for_event=for_event, weak_fits=weak)
    if settings is not None:
        from marketpilot.analytics.outputs import write_json, write_table

        table = pd.DataFrame([c.model_dump() for c in allocation.channels])
        plan.table_path, plan.table_csv = write_table(settings, table, "decisions", "budget", "split")
        plan.currency = settings.currency
        chart = settings.path("decisions", "budget", "curves.png")
        plan.chart_path = _chart(history, plan, chart, settings.language)
        write_json(settings, plan, "decisions", "budget", "summary.json")
    return plan


def chart_words(plan: BudgetPlan, lang: str, *, with_events: bool) -> tuple[str, str, str]:
    """The curves chart's x label, y label and title, in the shop's language; spend in its currency."""
    unit = f" ({plan.currency})" if plan.currency else ""
    carry = any(c.carryover for c in plan.curves)
    if lang == "zh":
        steady = "（每期投入不变时）" if carry else ""
        title = f"响应曲线{steady}（圆点：历史，星号：建议投入）"
        if with_events:
            period = "大促期" if plan.for_event else "平常期"
            title = f"{period}响应曲线{steady}\n（圆点：历史，三角：大促期，星号：建议分配）"
        return f"每期投入{unit}", "每期产出", title
    steady = " at a steady spend per period" if carry else ""
    title = f"Response curves{steady} (dots: history, stars: recommended spend)"
    if with_events:
        period = "an event period" if plan.for_event else "an ordinary period"
        title = (
            f"Response curves of {period}{steady}\n(dots: history, triangles: event periods, stars: split)"
        )
    return f"spend per period{unit}", "outcome per period", title


def _chart(history: pd.DataFrame, plan: BudgetPlan, path: Path, lang: str) -> Path:
    """The fitted curves over the history, the recommended spend starred; words in the shop's language."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from marketpilot.analytics.reports import chart_font, save_png

    chart_font()  # channel names may be Chinese
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    chosen = {c.channel: c.spend for c in plan.allocation.channels}
    for curve in plan.curves:
        seen = history[history["channel"] == curve.channel]
        event = seen["event"].eq(1) if "event" in seen else pd.Series(False, index=seen.index)
        (dots,) = ax.plot(
            seen.loc[~event, "spend"], seen.loc[~event, "outcome"], "o", alpha=0.5, markersize=4
        )
        if event.any():  # festival periods sit above the ordinary curve by the fitted uplift
            ax.plot(
                seen.loc[event, "spend"], seen.loc[event, "outcome"], "^", color=dots.get_color(), alpha=0.6
            )
        shown = curve.during_event() if plan.for_event else curve
        grid = np.linspace(0, max(curve.max_spend_seen, chosen[curve.channel]) * 1.1, 100)
        ax.plot(grid, shown.outcome(grid), color=dots.get_color(), label=curve.channel)
        ax.plot(
            [chosen[curve.channel]],
            [shown.outcome(chosen[curve.channel])],
            "*",
            color=dots.get_color(),
            markersize=14,
        )
    xlabel, ylabel, title = chart_words(plan, lang, with_events="event" in history)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    if len(plan.curves) <= 12:  # beyond that a legend hides the plot; the split table names them
        ax.legend(loc="lower right")
    return save_png(fig, path)
