"""The budget split on a channel history generated from known response curves: the fitted curves
recover them, the split reaches the true optimum, caps and minimums hold, bad files are named."""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from marketpilot.analytics.budget import HistoryFile, ResponseCurve, allocate, chart_words, plan_budget
from marketpilot.cli import app, run_app
from marketpilot.errors import UserError, ValidationFailed

# a: most the channel can bring per week; b: spend scale (63 % of a at spend b).
TRUTH = {"搜索广告": (120_000.0, 30_000.0), "信息流": (60_000.0, 8_000.0), "短信": (15_000.0, 2_000.0)}


def _history(path: Path, noise: float = 0.03, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    rows = []
    for channel, (a, b) in TRUTH.items():
        for week in range(16):
            spend = b * rng.uniform(0.2, 1.6)
            revenue = a * (1 - np.exp(-spend / b)) * (1 + rng.normal(0, noise))
            rows.append({"周": week + 1, "渠道": channel, "花费": f"{spend:,.0f}", "收入": round(revenue, 2)})
    pd.DataFrame(rows).to_csv(path, index=False, encoding="gbk")
    return path


def _spec(path: Path) -> HistoryFile:
    return HistoryFile(path=path, channel_col="渠道", spend_col="花费", outcome_col="收入")


def _true_outcome(spend: dict[str, float]) -> float:
    return sum(a * (1 - np.exp(-spend[c] / b)) for c, (a, b) in TRUTH.items())


def test_the_curves_chart_speaks_the_shops_language_and_names_its_currency(tmp_path: Path, settings) -> None:
    plan = plan_budget(_spec(_history(tmp_path / "history.csv")), 40_000.0, settings=settings)
    assert settings.language == "zh" and plan.currency == settings.currency == "CNY"
    xlabel, ylabel, title = chart_words(plan, "zh", with_events=False)
    assert (xlabel, ylabel) == ("每期投入 (CNY)", "每期产出") and title.startswith("响应曲线")
    assert chart_words(plan, "en", with_events=True)[0] == "spend per period (CNY)"
    assert plan.chart_path is not None and plan.chart_path.stat().st_size > 1000


def test_the_split_reaches_the_true_optimum(tmp_path: Path, settings) -> None:
    total = 40_000.0
    plan = plan_budget(_spec(_history(tmp_path / "history.csv")), total, settings=settings)
    for curve in plan.curves:
        a, b = TRUTH[curve.channel]
        assert curve.a == pytest.approx(a, rel=0.15) and curve.b == pytest.approx(b, rel=0.2)
        assert curve.r2 > 0.9
    chosen = {c.channel: c.spend for c in plan.allocation.channels}
    assert sum(chosen.values()) == pytest.approx(total, rel=1e-6)
    # The best split on a 1 % grid, judged on the true curves.
    best = max(
        _true_outcome(
            {"搜索广告": total * i / 100, "信息流": total * j / 100, "短信": total * (100 - i - j) / 100}
        )
        for i, j in itertools.product(range(101), range(101))
        if i + j <= 100
    )
    assert _true_outcome(chosen) >= 0.99 * best
    assert plan.allocation.expected_outcome > plan.allocation.equal_split_outcome
    # Interior channels end at the same marginal return.
    returns = [c.marginal_return for c in plan.allocation.channels if c.spend > 0 and not c.capped]
    assert max(returns) == pytest.approx(min(returns), rel=0.02)
    table = pd.read_parquet(plan.table_path)
    assert set(table["channel"]) == set(TRUTH)
    assert plan.chart_path and plan.chart_path.read_bytes()[:4] == b"\x89PNG"


def test_caps_and_minimums() -> None:
    curves = [
        ResponseCurve(channel="A", a=100.0, b=10.0, r2=1.0, points=8, max_spend_seen=20.0),
        ResponseCurve(channel="B", a=50.0, b=50.0, r2=1.0, points=8, max_spend_seen=60.0),
    ]
    huge = allocate(curves, 1_000.0, max_scale=2.0)
    assert [c.spend for c in huge.channels] == [40.0, 120.0]
    assert all(c.capped for c in huge.channels) and huge.unallocated == pytest.approx(840.0)
    floored = allocate(curves, 60.0, floors={"B": 30.0})
    spend = {c.channel: c.spend for c in floored.channels}
    assert spend["B"] >= 30.0 - 1e-6 and sum(spend.values()) == pytest.approx(60.0)
    with pytest.raises(UserError, match="more than the budget"):
        allocate(curves, 20.0, floors={"A": 15.0, "B": 15.0})
    with pytest.raises(UserError, match="not in the history: C"):
        allocate(curves, 20.0, floors={"C": 1.0})


def test_bad_histories_are_named(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    pd.DataFrame({"渠道": ["A"] * 3, "花费": [1, 2, 3], "收入": [1, 2, 2.5]}).to_csv(path, index=False)
    with pytest.raises(UserError, match="channel 'A': 3 distinct spend levels"):
        plan_budget(_spec(path), 10.0)
    pd.DataFrame({"渠道": ["A"] * 4, "花费": [1, -2, 3, 4], "收入": [1, 2, 2.5, 3]}).to_csv(path, index=False)
    with pytest.raises(ValidationFailed, match="row 3, column '花费': '-2' is not an amount"):
        plan_budget(_spec(path), 10.0)
    with pytest.raises(UserError, match="no column 'revenue'"):
        plan_budget(HistoryFile(path=path, channel_col="渠道", spend_col="花费"), 10.0)


def test_cli_json(tmp_path: Path, home: Path, monkeypatch, capsys) -> None:
    path = _history(tmp_path / "history.csv")
    args = ["decide", "budget", "--history", str(path), "--total", "40000", "--channel-col", "渠道"]
    args += ["--spend-col", "花费", "--outcome-col", "收入", "--min", "短信=5000", "--json"]
    monkeypatch.setattr(sys, "argv", ["marketpilot", *args])
    assert run_app(app) == 0
    plan = json.loads(capsys.readouterr().out)
    spend = {c["channel"]: c["spend"] for c in plan["allocation"]["channels"]}
    assert spend["短信"] >= 5000 and sum(spend.values()) == pytest.approx(40_000, rel=1e-6)


CARRY = {"搜索广告": 0.0, "信息流": 0.6, "短信": 0.3}


def _carryover_history(path: Path, carry: dict[str, float], seed: int = 0) -> Path:
    """24 weeks per channel whose effect carries over: a week's effective spend is its own plus
    `carry[channel]` × the last week's effective spend."""
    rng = np.random.default_rng(seed)
    rows = []
    for channel, (a, b) in TRUTH.items():
        level = 0.0
        for week in range(24):
            spend = b * rng.uniform(0.1, 1.2) * (1 - carry[channel])
            level = spend + carry[channel] * level
            revenue = a * (1 - np.exp(-level / b)) * (1 + rng.normal(0, 0.03))
            monday = (pd.Timestamp("2026-01-05") + pd.Timedelta(weeks=week)).date().isoformat()
            rows.append(
                {"周": f"2026-W{week + 2:02d}", "日期": monday, "渠道": channel, "花费": round(spend, 2),
                 "收入": round(revenue, 2)}
            )  # fmt: skip
    frame = pd.DataFrame(rows).sample(frac=1, random_state=seed)  # the file's row order means nothing
    frame.to_csv(path, index=False, encoding="utf-8")
    return path


def _steady_outcome(spend: dict[str, float]) -> float:
    """The true outcome per week of spending `spend` every week (it builds up to s / (1 − carry))."""
    return _true_outcome({c: s / (1 - CARRY[c]) for c, s in spend.items()})


@pytest.mark.parametrize("seed", [0, 1])
def test_carryover_is_found_and_the_split_plans_for_it(tmp_path: Path, seed: int) -> None:
    spec = HistoryFile(
        path=_carryover_history(tmp_path / "h.csv", CARRY, seed),
        channel_col="渠道",
        spend_col="花费",
        outcome_col="收入",
        period_col="日期",
    )
    total = 20_000.0
    plan = plan_budget(spec, total)
    for curve in plan.curves:
        assert curve.carryover == pytest.approx(CARRY[curve.channel], abs=0.1)
    chosen = {c.channel: c.spend for c in plan.allocation.channels}
    truth = _steady_outcome(chosen)
    assert plan.allocation.expected_outcome == pytest.approx(truth, rel=0.1)
    # Without the period order the build-up looks like a weaker channel: that split brings less on the
    # true steady state (11–22 % on four seeds) and its forecast is further off.
    blind = plan_budget(spec.model_copy(update={"period_col": None}), total)
    assert truth > 1.05 * _steady_outcome({c.channel: c.spend for c in blind.allocation.channels})
    assert abs(blind.allocation.expected_outcome - truth) > abs(plan.allocation.expected_outcome - truth)


def test_no_carryover_is_invented_from_noise(tmp_path: Path) -> None:
    spec = HistoryFile(
        path=_carryover_history(tmp_path / "h.csv", dict.fromkeys(CARRY, 0.0)),
        channel_col="渠道",
        spend_col="花费",
        outcome_col="收入",
        period_col="日期",
    )
    assert [c.carryover for c in plan_budget(spec, 20_000.0).curves] == [0.0, 0.0, 0.0]


def test_periods_are_numbers_dates_or_weeks_once_per_channel(tmp_path: Path) -> None:
    path = _carryover_history(tmp_path / "h.csv", CARRY)
    spec = HistoryFile(path=path, channel_col="渠道", spend_col="花费", outcome_col="收入", period_col="周")
    # ISO weeks (2026-W02) order the rows as their Mondays do.
    by_week, by_date = (
        plan_budget(spec, 1000.0),
        plan_budget(spec.model_copy(update={"period_col": "日期"}), 1000.0),
    )
    assert [c.carryover for c in by_week.curves] == [c.carryover for c in by_date.curves]
    # A European export of the same history: day-first dates (row by row, 05/01 would have been May),
    # decimal commas, semicolons.
    frame = pd.read_csv(path)
    frame["日期"] = pd.to_datetime(frame["日期"]).dt.strftime("%d/%m/%Y")
    frame["花费"] = frame["花费"].map(
        lambda x: f"{x:,.2f}".replace(",", " ").replace(".", ",").replace(" ", ".")
    )
    frame.to_csv(tmp_path / "eu.csv", index=False, sep=";")
    european = plan_budget(
        spec.model_copy(update={"path": tmp_path / "eu.csv", "period_col": "日期"}), 1000.0
    )
    assert [(c.carryover, round(c.a, 6), round(c.b, 6)) for c in european.curves] == [
        (c.carryover, round(c.a, 6), round(c.b, 6)) for c in by_date.curves
    ]
    frame = pd.read_csv(path)
    frame.loc[4, "周"] = "第几周"
    frame.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(
        ValidationFailed, match=r"row 6, column '周': '第几周' is not a number, a date or a week"
    ):
        plan_budget(spec.model_copy(update={"path": tmp_path / "bad.csv"}), 1000.0)
    frame = pd.read_csv(path)
    pd.concat([frame, frame.head(1)]).to_csv(path, index=False)
    with pytest.raises(UserError, match="more than once"):
        plan_budget(spec.model_copy(update={"period_col": "日期"}), 1000.0)


UPLIFT = 0.6  # festival weeks sell 60 % more at the same spend
PUSH = {"搜索广告": 2.0, "信息流": 1.3, "短信": 1.0}  # and the shop spends this much more in them


def _festival_history(path: Path, seed: int) -> Path:
    """30 weeks per channel, every sixth a festival week: more spend and, at any spend, more sales."""
    rng = np.random.default_rng(seed)
    rows = []
    for channel, (a, b) in TRUTH.items():
        for week in range(30):
            festival = week % 6 == 5
            spend = b * rng.uniform(0.2, 1.2) * (PUSH[channel] if festival else 1.0)
            revenue = a * (1 - np.exp(-spend / b)) * (1 + UPLIFT * festival) * (1 + rng.normal(0, 0.03))
            rows.append({"周": week + 1, "渠道": channel, "花费": round(spend, 2), "收入": round(revenue, 2),
                         "大促": "双11" if festival else ""})  # fmt: skip
    pd.DataFrame(rows).to_csv(path, index=False, encoding="utf-8")
    return path


def _best_outcome(total: float) -> float:
    return max(
        _true_outcome(
            {"搜索广告": total * i / 100, "信息流": total * j / 100, "短信": total * (100 - i - j) / 100}
        )
        for i, j in itertools.product(range(101), range(101))
        if i + j <= 100
    )


@pytest.mark.parametrize("seed", [0, 1])
def test_festival_weeks_are_not_read_as_returns_on_spend(tmp_path: Path, seed: int) -> None:
    spec = _spec(_festival_history(tmp_path / "h.csv", seed)).model_copy(update={"event_col": "大促"})
    total = 40_000.0
    plan = plan_budget(spec, total)
    for curve in plan.curves:
        a, b = TRUTH[curve.channel]
        assert curve.event_uplift == pytest.approx(UPLIFT, abs=0.15)
        assert curve.a == pytest.approx(a, rel=0.15) and curve.b == pytest.approx(b, rel=0.2)
    chosen = {c.channel: c.spend for c in plan.allocation.channels}
    truth = _true_outcome(chosen)
    assert truth >= 0.99 * _best_outcome(total)
    assert plan.allocation.expected_outcome == pytest.approx(truth, rel=0.05)
    # Blind to the festivals, the fit reads their demand as the return on the extra spend (85–99 % of
    # the best split on five seeds, forecasts 8–53 % too high).
    blind = plan_budget(spec.model_copy(update={"event_col": None}), total)
    assert _true_outcome({c.channel: c.spend for c in blind.allocation.channels}) < truth
    assert blind.allocation.expected_outcome - truth > 2 * abs(plan.allocation.expected_outcome - truth)
    # The split for the next festival week: every curve scaled by its own uplift.
    festival = plan_budget(spec, total, for_event=True)
    spent = {c.channel: c.spend for c in festival.allocation.channels}
    assert festival.allocation.expected_outcome == pytest.approx(
        (1 + UPLIFT) * _true_outcome(spent), rel=0.05
    )


def test_event_columns_read_flags_and_names(tmp_path: Path, home: Path, monkeypatch, capsys) -> None:
    from marketpilot.analytics.budget import event_flags

    marks = pd.Series(["1", "是", "双11", "618", "true", "", "0", "否", "无", None, float("nan"), "false"])
    assert event_flags(marks).tolist() == [1] * 5 + [0] * 7
    path = _festival_history(tmp_path / "h.csv", 0)
    with pytest.raises(UserError, match="event column"):
        plan_budget(_spec(path), 1e4, for_event=True)
    args = ["decide", "budget", "--history", str(path), "--total", "40000", "--channel-col", "渠道"]
    args += ["--spend-col", "花费", "--outcome-col", "收入", "--event-col", "大促", "--for-event", "--json"]
    monkeypatch.setattr(sys, "argv", ["marketpilot", *args, "--home", str(home)])
    assert run_app(app) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["for_event"] and all(c["event_uplift"] > 0.3 for c in plan["curves"])
    monkeypatch.setattr(sys, "argv", ["marketpilot", *args[:-4], "--event-col", "促销", "--home", str(home)])
    assert run_app(app) == 2
    assert "促销" in capsys.readouterr().err
