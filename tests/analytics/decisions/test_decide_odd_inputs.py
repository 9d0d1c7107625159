"""The decide commands on the inputs real users send: arms written as 1.0/0.0 or True/False, outcomes
as 是/否, arms with a handful of conversions, infinite amounts, repeated customers, odd flags, a channel
whose spend says nothing about its outcome, prices in another currency's format. Each gives a
`marketpilot.errors` error naming the row, column or flag, or a result that says what it rests on;
never a traceback, a NaN or an inf."""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from marketpilot.analytics.budget import HistoryFile, plan_budget
from marketpilot.analytics.power import customers_per_arm, detectable_lift
from marketpilot.analytics.pricing import CompetitorFile, price_report
from marketpilot.analytics.promo import PromoSpec, design_group
from marketpilot.analytics.uplift import Experiment, fit_experiment
from marketpilot.cli import app, run_app
from marketpilot.config import Settings, get_settings
from marketpilot.data import Store
from marketpilot.errors import UserError, ValidationFailed

FEATURES = ["recency", "history", "mens", "womens", "newbie", "channel"]


def _run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["marketpilot", *args])
    code = run_app(app)
    captured = capsys.readouterr()
    return code, " ".join((captured.err + captured.out).split())


@pytest.fixture(scope="module")
def womens(data_dir: Path) -> pd.DataFrame:
    """The women's e-mail against no e-mail, 6,000 real Hillstrom customers, the arm as a 1/0 flag."""
    frame = pd.read_csv(data_dir / "hillstrom" / "hillstrom.csv.gz")
    frame = frame[frame["segment"] != "Mens E-Mail"].sample(6000, random_state=3).reset_index(drop=True)
    frame["treated"] = (frame["segment"] == "Womens E-Mail").astype(int)
    frame["customer_id"] = [f"C{i:05d}" for i in range(len(frame))]
    return frame


def _experiment(path: Path, **kw: object) -> Experiment:
    base = {"path": path, "treatment_col": "treated", "control": "0", "outcome_col": "visit"}
    return Experiment(**{**base, "features": FEATURES, **kw})  # type: ignore[arg-type]


def test_flags_written_as_floats_booleans_or_words_are_the_same_experiment(
    womens: pd.DataFrame, tmp_path: Path
) -> None:
    womens.to_csv(tmp_path / "flag.csv", index=False)
    expected = fit_experiment(_experiment(tmp_path / "flag.csv"))
    # A spreadsheet export writes the flag as 1.0/0.0; --control 0 still names the holdout.
    womens.assign(treated=womens["treated"].map({1: "1.0", 0: "0.0"})).to_csv(tmp_path / "f.csv", index=False)
    floats = fit_experiment(_experiment(tmp_path / "f.csv"))
    assert floats.arms == expected.arms and set(floats.arms) == {"0", "1"}
    assert [q.qini for q in floats.qini] == [q.qini for q in expected.qini]
    # True/False with `--control false`; the outcome as 是/否 (a Chinese export of "visited?").
    worded = womens.assign(
        treated=womens["treated"].map({1: "True", 0: "False"}), visit=womens["visit"].map({1: "是", 0: "否"})
    )
    worded.to_csv(tmp_path / "words.csv", index=False, encoding="gbk")
    words = fit_experiment(_experiment(tmp_path / "words.csv", control="false"))
    assert [q.arm for q in words.qini] == ["True"] and words.binary_outcome
    assert [q.qini for q in words.qini] == [q.qini for q in expected.qini]
    assert words.policies.targeted == expected.policies.targeted


def test_an_arm_with_a_handful_of_conversions_is_refused_with_the_counts(
    womens: pd.DataFrame, tmp_path: Path
) -> None:
    # Hillstrom's purchases: under 1 % convert, so 1,000 customers hold a handful per arm.
    few = womens.head(1000)
    few.to_csv(tmp_path / "few.csv", index=False)
    counts = few.groupby("treated")["conversion"].agg(["sum", "count"])
    assert (counts["sum"] < 10).all()
    with pytest.raises(UserError, match="too few of each outcome") as raised:
        fit_experiment(_experiment(tmp_path / "few.csv", outcome_col="conversion"))
    for arm, (ones, n) in counts.iterrows():
        assert f"arm '{arm}' ({ones} of {n} rows with conversion = 1)" in str(raised.value)
    # An arm in which nobody converted, or everybody did, cannot be modelled either.
    none = womens.assign(visit=np.where(womens["treated"] == 1, 0, womens["visit"]))
    none.to_csv(tmp_path / "none.csv", index=False)
    with pytest.raises(UserError, match=r"arm '1' \(0 of 3\d\d\d rows with visit = 1\)"):
        fit_experiment(_experiment(tmp_path / "none.csv"))
    every = womens.assign(visit=np.where(womens["treated"] == 1, 1, womens["visit"]))
    every.to_csv(tmp_path / "every.csv", index=False)
    with pytest.raises(UserError, match=r"arm '1' \(0 of 3\d\d\d rows with visit = 0\)"):
        fit_experiment(_experiment(tmp_path / "every.csv"))


def test_infinite_outcomes_and_repeated_customers_are_named_by_row(
    womens: pd.DataFrame, tmp_path: Path
) -> None:
    spend = womens.assign(spend=womens["spend"].astype(object))
    spend.loc[4, "spend"] = "inf"
    spend.to_csv(tmp_path / "spend.csv", index=False)
    with pytest.raises(ValidationFailed, match=r"row 6, column 'spend': 'inf' is not a number \(infinite\)"):
        fit_experiment(_experiment(tmp_path / "spend.csv", outcome_col="spend"))
    spend.loc[4, "spend"] = ""
    spend.to_csv(tmp_path / "spend.csv", index=False)
    with pytest.raises(ValidationFailed, match="row 6, column 'spend': empty"):
        fit_experiment(_experiment(tmp_path / "spend.csv", outcome_col="spend"))
    twice = pd.concat([womens, womens.iloc[[10]]], ignore_index=True)
    twice.to_csv(tmp_path / "twice.csv", index=False)
    with pytest.raises(ValidationFailed, match="row 6002, column 'customer_id': 'C00010' is also in row 12"):
        fit_experiment(_experiment(tmp_path / "twice.csv", id_col="customer_id"))


def test_a_header_without_rows_is_named_and_an_empty_feature_column_is_no_error(
    womens: pd.DataFrame, tmp_path: Path
) -> None:
    womens.head(0).to_csv(tmp_path / "none.csv", index=False)
    with pytest.raises(UserError, match=r"none\.csv: the file has a header but no rows"):
        fit_experiment(_experiment(tmp_path / "none.csv"))
    # a column exported with no value in any row (a field the shop never filled) carries no signal
    womens.assign(会员等级="").to_csv(tmp_path / "blank.csv", index=False)
    report = fit_experiment(_experiment(tmp_path / "blank.csv", features=[*FEATURES, "会员等级"]))
    assert report.rows == len(womens)


def test_a_file_to_score_without_the_features_or_rows_is_named_before_the_fit(
    womens: pd.DataFrame, tmp_path: Path
) -> None:
    womens.to_csv(tmp_path / "test.csv", index=False)
    settings = get_settings(tmp_path / "home")
    womens[["customer_id", "recency"]].to_csv(tmp_path / "next.csv", index=False)
    with pytest.raises(
        UserError, match=r"next\.csv: no column 'history', 'mens', 'womens', 'newbie', 'channel'"
    ):
        fit_experiment(
            _experiment(tmp_path / "test.csv", id_col="customer_id"), settings, tmp_path / "next.csv"
        )
    womens.head(0).to_csv(tmp_path / "none.csv", index=False)
    with pytest.raises(UserError, match=r"none\.csv: the file has a header but no rows"):
        fit_experiment(_experiment(tmp_path / "test.csv"), settings, tmp_path / "none.csv")
    assert not (tmp_path / "home" / "decisions").exists()


# --- budget --------------------------------------------------------------------------------------


def _history(path: Path, channels: dict[str, tuple[float | None, float]], seed: int = 0) -> Path:
    """16 weeks per channel from known curves, 3 % noise; a = None: revenue unrelated to spend."""
    rng = np.random.default_rng(seed)
    rows = []
    for channel, (a, b) in channels.items():
        for week in range(16):
            spend = b * rng.uniform(0.2, 1.6)
            curve = a * (1 - np.exp(-spend / b)) if a else rng.uniform(2_000, 9_000)
            rows.append({"周": week + 1, "渠道": channel, "花费": round(spend, 2), "收入": round(curve, 2)})
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _budget_spec(path: Path) -> HistoryFile:
    return HistoryFile(path=path, channel_col="渠道", spend_col="花费", outcome_col="收入")


def test_budget_flags_that_no_split_can_honour_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _history(tmp_path / "花费.csv", {"搜索广告": (120_000, 30_000), "短信": (15_000, 2_000)})
    base = ["decide", "budget", "--history", str(path), "--channel-col", "渠道", "--spend-col", "花费"]
    base += ["--outcome-col", "收入", "--home", str(tmp_path / "home")]
    for flags, said in (
        (["--total", "nan"], "--total: the budget must be a positive amount, got nan"),
        (["--total", "inf"], "--total: the budget must be a positive amount, got inf"),
        (["--total", "-5"], "--total: the budget must be a positive amount, got -5"),
        (["--total", "9000", "--max-scale", "0"], "--max-scale must be a positive multiple"),
        (["--total", "9000", "--min", "短信=nan"], "--min takes an amount of at least 0: 短信=nan"),
        (["--total", "9000", "--min", "短信=-100"], "--min takes an amount of at least 0: 短信=-100"),
    ):
        code, out = _run(monkeypatch, capsys, *base, *flags)
        assert code == 2 and said in out and "Traceback" not in out


def test_a_report_language_we_do_not_write_is_refused_before_anything_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _history(tmp_path / "花费.csv", {"搜索广告": (120_000, 30_000), "短信": (15_000, 2_000)})
    home = tmp_path / "home"
    budget = ["decide", "budget", "--history", str(path), "--channel-col", "渠道", "--spend-col", "花费"]
    budget += ["--outcome-col", "收入", "--total", "9000", "--report"]
    for args in (budget, ["decide", "promo", "--by", "all"]):
        code, out = _run(monkeypatch, capsys, *args, "--lang", "fr", "--home", str(home))
        assert code == 2 and "'--lang': zh or en, not 'fr'" in out, out
    assert not (home / "decisions").exists()


def test_an_event_split_from_a_history_without_events_is_refused(tmp_path: Path) -> None:
    path = _history(tmp_path / "花费.csv", {"搜索广告": (120_000, 30_000), "短信": (15_000, 2_000)})
    history = pd.read_csv(path).assign(大促="否")
    history.to_csv(path, index=False)
    spec = _budget_spec(path).model_copy(update={"event_col": "大促"})
    with pytest.raises(UserError, match="no period is marked as an event in '大促'"):
        plan_budget(spec, 9_000.0, for_event=True)
    assert not plan_budget(spec, 9_000.0).for_event  # the ordinary split still reads the column


def test_one_channel_compares_with_today_within_the_same_cap(tmp_path: Path) -> None:
    path = _history(tmp_path / "one.csv", {"短信": (15_000, 2_000)})
    plan = plan_budget(_budget_spec(path), 50_000.0)
    a = plan.allocation
    # 50,000 is far past twice the most the channel ever spent: the rest is unallocated, and today's
    # split (all of it on this channel) is credited with no more than the capped spend either.
    assert a.unallocated > 0 and a.channels[0].capped
    assert a.current_split_outcome == a.expected_outcome == a.equal_split_outcome
    assert all(math.isfinite(v) for v in (a.expected_outcome, a.current_split_outcome, a.unallocated))


def test_a_channel_whose_spend_says_nothing_is_flagged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _history(tmp_path / "h.csv", {"搜索广告": (120_000, 30_000), "达人直播": (None, 5_000)})
    plan = plan_budget(_budget_spec(path), 40_000.0)
    fit = {c.channel: c.r2 for c in plan.curves}
    assert plan.weak_fits == ["达人直播"] and fit["达人直播"] < 0.5 < fit["搜索广告"]
    args = ["decide", "budget", "--history", str(path), "--channel-col", "渠道", "--spend-col", "花费"]
    args += ["--outcome-col", "收入", "--total", "40000", "--home", str(tmp_path / "home")]
    code, out = _run(monkeypatch, capsys, *args)
    assert code == 0 and "达人直播: its curve explains" in out and "rests on little evidence" in out
    assert not re.search(r"\b(nan|inf)\b", out.lower())


# --- price ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def catalogue(shop_settings: Settings) -> pd.DataFrame:
    with Store.open(shop_settings, read_only=True) as store:
        products = store.read("products")
    return products.dropna(subset=["price_minor", "cost_minor"]).head(3).reset_index(drop=True)


def test_prices_in_another_currencys_format_are_left_out_not_compared(
    shop_settings: Settings, catalogue: pd.DataFrame, tmp_path: Path
) -> None:
    assert set(catalogue["currency"]) == {"CNY"}
    rows = []
    for product in catalogue.itertuples():
        ours = product.price_minor / 100
        rows += [
            {"product_id": product.product_id, "competitor": "京东", "price": f"¥{ours * 1.1:,.2f}"},
            {"product_id": product.product_id, "competitor": "天猫", "price": f"{ours * 1.2:.0f}元"},
            # an overseas shop's dollars, read as yuan, would make us the most expensive by far
            {"product_id": product.product_id, "competitor": "Amazon US", "price": f"${ours / 7.2:.2f}"},
            # Hong Kong dollars: HK$ holds a $, and its amount now parses, so it must not pass for yuan
            {"product_id": product.product_id, "competitor": "莎莎", "price": f"HK${ours * 1.08:,.0f}"},
        ]
    path = tmp_path / "prices.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    report = price_report(shop_settings, CompetitorFile(path=path))
    assert report.summary.other_currency_rows == 6
    assert report.summary.positions["cheapest"] == 3
    table = pd.read_parquet(report.products_path)
    assert (table["competitors"] == 2).all()
    dollars = pd.DataFrame(rows[2::4])
    dollars.to_csv(path, index=False)
    with pytest.raises(UserError, match=r"every competitor price of a catalogue product is in \$"):
        price_report(shop_settings, CompetitorFile(path=path))


def test_infinite_prices_blank_shops_and_bad_margins_are_named(
    shop_settings: Settings,
    catalogue: pd.DataFrame,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    first = catalogue.product_id[0]
    path = tmp_path / "p.csv"
    pd.DataFrame({"product_id": [first, first], "competitor": ["A", "B"], "price": ["99", "1e400"]}).to_csv(
        path, index=False
    )
    with pytest.raises(ValidationFailed, match="row 3, column 'price': '1e400' is not a positive price"):
        price_report(shop_settings, CompetitorFile(path=path))
    pd.DataFrame({"product_id": [first, first], "competitor": ["A", None], "price": ["99", "89"]}).to_csv(
        path, index=False
    )
    with pytest.raises(ValidationFailed, match="row 3, column 'competitor': empty"):
        price_report(shop_settings, CompetitorFile(path=path))
    pd.DataFrame({"product_id": [first], "competitor": ["A"], "price": ["$20"]}).to_csv(path, index=False)
    home = ["--home", str(shop_settings.home_dir)]
    code, out = _run(
        monkeypatch, capsys, "decide", "price", "--competitors", str(path), "--min-margin", "-0.2", *home
    )
    assert code == 2 and "--min-margin is the margin over cost" in out and "got -0.2" in out
    pd.DataFrame({"product_id": [first] * 2, "competitor": ["A", "B"], "price": ["$20", "￥99"]}).to_csv(
        path, index=False
    )
    code, out = _run(monkeypatch, capsys, "decide", "price", "--competitors", str(path), *home)
    assert code == 0 and "1 row in another currency than the product" in out


# --- coupon test sizes ---------------------------------------------------------------------------


def test_a_group_that_buys_every_day_gets_no_test_size_and_no_crash() -> None:
    # Six wholesale accounts ordering three times a day: the chance to buy within the window is 1.
    baskets = np.random.default_rng(0).lognormal(7, 0.4, 6 * 3 * 365)
    group = design_group(
        "批发客户",
        "wholesale",
        baskets,
        customers=6,
        margin=0.3,
        discounted_share=0.2,
        store_discounted_share=0.2,
        lookback_days=365,
        spec=PromoSpec(by="all"),
    )
    assert group.base_conversion == 1.0 and group.detectable_lift is None
    assert group.verdict in ("underpowered", "implausible_lift", "margin_too_thin")


def test_sample_sizes_refuse_alpha_and_power_outside_zero_and_one() -> None:
    assert customers_per_arm(0.1, 0.2) == 3841
    for kw, said in (({"alpha": 0}, "alpha"), ({"alpha": 1.2}, "alpha"), ({"power": 1.0}, "power")):
        with pytest.raises(ValueError, match=said):
            customers_per_arm(0.1, 0.2, **kw)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=said):
            detectable_lift(0.1, 500, **kw)  # type: ignore[arg-type]
    assert detectable_lift(1.0, 500) is None and detectable_lift(0.0, 500) is None
