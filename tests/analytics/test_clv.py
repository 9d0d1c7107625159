"""CLV: reproduce the published CDNOW estimates, beat a naive forecast on Online Retail, stay stable."""

from __future__ import annotations

import datetime as dt
import json
import time
import warnings
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from generated_shop import generated_shop_buyers
from scipy.special import hyp2f1
from typer.testing import CliRunner

from marketpilot.analytics.clv import (
    BetaGeoModel,
    FileSource,
    GammaGammaModel,
    fit_clv,
    predict_clv,
    summarise,
)
from marketpilot.analytics.clv.transactions import TX_VIEW, register_file_transactions
from marketpilot.config import Settings
from marketpilot.data.sample import truth_paths
from marketpilot.errors import NotFittedError, UserError

CDNOW_CAL_END = dt.date(1997, 9, 30)


def cdnow(data_dir: Path) -> FileSource:
    # CDNOW_sample.txt: master id, customer id, YYYYMMDD date, CDs, dollars; whitespace-separated.
    return FileSource(
        path=data_dir / "cdnow" / "CDNOW_sample.txt",
        customer_col="column0",
        date_col="column2",
        value_col="column4",
        date_format="%Y%m%d",
    )


def test_bgnbd_and_gamma_gamma_reproduce_fader_hardie_lee_on_cdnow(data_dir: Path) -> None:
    result = fit_clv(cdnow(data_dir), calibration_end=CDNOW_CAL_END, time_unit="W")
    assert result.customers == 2357
    published_bgnbd = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426, "loglik": -9582.4}
    for name, value in published_bgnbd.items():
        assert getattr(result.bgnbd, name) == pytest.approx(value, rel=0.01), name
    assert result.gamma_gamma is not None
    for name, value in {"p": 6.25, "q": 3.74, "v": 15.44}.items():
        assert getattr(result.gamma_gamma, name) == pytest.approx(value, rel=0.01), name
    # Holdout weeks 40-78: the model's total forecast is within 15% of what happened.
    assert result.holdout is not None
    assert result.holdout.predicted_total == pytest.approx(result.holdout.actual_total, rel=0.15)


def test_clv_fit_cli_prints_the_documented_json(data_dir: Path, home: Path) -> None:
    from marketpilot.cli import app

    args = ["clv", "fit", "--transactions", str(data_dir / "cdnow" / "CDNOW_sample.txt")]
    args += ["--customer-col", "column0", "--date-col", "column2", "--value-col", "column4"]
    args += ["--date-format", "%Y%m%d", "--calibration-end", "1997-09-30", "--time-unit", "W", "--json"]
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 0, out.output
    payload = json.loads(out.stdout)
    assert set(payload) == {"bgnbd", "gamma_gamma", "customers", "holdout", "purchase_rules", "warnings"}
    assert payload["warnings"] == []  # a well-posed fit, near its holdout
    # CDNOW has no returns; its 8 purchases worth $0 (free CDs) count, as in the published fit
    rules = payload["purchase_rules"]
    assert (rules["documents"], rules["purchases"], rules["zero_value"], rules["returns"]) == (
        6919,
        6919,
        8,
        0,
    )
    assert set(payload["bgnbd"]) == {"r", "alpha", "a", "b", "loglik"}
    assert set(payload["gamma_gamma"]) == {"p", "q", "v"}
    assert set(payload["holdout"]) == {"mae", "predicted_total", "actual_total", "far_off"}
    assert not payload["holdout"]["far_off"]
    assert payload["bgnbd"]["loglik"] == pytest.approx(-9582.4, rel=0.001)


def online_retail_transactions(data_dir: Path) -> duckdb.DuckDBPyConnection:
    """The lines of identified customers as transaction documents: sales, and the cancellation
    invoices' negative lines as returns, which the purchase rule nets against earlier purchases."""
    con = duckdb.connect()
    con.execute(
        """CREATE TABLE _tx AS
        SELECT CAST(row_number() OVER () AS VARCHAR) AS order_id, CAST(CustomerID AS VARCHAR) AS customer_id,
               CAST(InvoiceDate AS TIMESTAMP) AS ordered_at, NULL::VARCHAR AS status,
               Quantity * UnitPrice AS value, 0.0 AS discount, false AS from_lines,
               NULL::VARCHAR AS currency
        FROM read_csv(?) WHERE CustomerID IS NOT NULL AND UnitPrice > 0""",
        [str(data_dir / "samples" / "online_retail.csv.gz")],
    )
    return con


@pytest.mark.parametrize("calibration_end", [dt.date(2011, 3, 31), dt.date(2011, 6, 30)])
def test_online_retail_holdout_beats_same_as_last_period(data_dir: Path, calibration_end: dt.date) -> None:
    # A 13-week holdout ending before the Q4 wholesale peak, which a stationary model cannot know about.
    con = online_retail_transactions(data_dir)
    summary = summarise(
        con, calibration_end=calibration_end, observation_end=calibration_end + dt.timedelta(weeks=13)
    )
    model = BetaGeoModel().fit(summary["frequency"], summary["recency"], summary["T"])
    predicted = model.conditional_expected_purchases(
        summary["duration_holdout"], summary["frequency"], summary["recency"], summary["T"]
    )
    actual = summary["frequency_holdout"].to_numpy()
    mae_model = np.abs(predicted - actual).mean()
    mae_naive = np.abs(summary["frequency_previous"].to_numpy() - actual).mean()
    print(f"{calibration_end}: BG/NBD MAE {mae_model:.4f} vs same-as-last-period {mae_naive:.4f}")
    assert mae_model < mae_naive


def test_expected_purchases_match_the_textbook_formula_and_stay_finite_for_heavy_buyers() -> None:
    model = BetaGeoModel()
    model.r_, model.alpha_, model.a_, model.b_, model.loglik_ = 0.243, 4.414, 0.793, 2.426, 0.0
    r, alpha, a, b = 0.243, 4.414, 0.793, 2.426
    x = np.array([0.0, 1, 3, 8])
    tx = np.array([0.0, 10, 20, 35])
    T = np.full(4, 38.86)
    t = 39.0
    textbook = (
        (a + b + x - 1)
        / (a - 1)
        * (
            1
            - ((alpha + T) / (alpha + T + t)) ** (r + x)
            * hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t))
        )
    )
    textbook /= 1 + (x > 0) * a / (b + x - 1 + (x == 0)) * ((alpha + T) / (alpha + tx)) ** (r + x)
    np.testing.assert_allclose(model.conditional_expected_purchases(t, x, tx, T), textbook, rtol=1e-9)
    # 400 repeat purchases, the last one just now: the textbook hyp2f1 overflows (~1e445) here.
    heavy = model.conditional_expected_purchases(
        520.0, np.array([400.0]), np.array([38.86]), np.array([38.86])
    )
    assert np.isfinite(heavy).all() and 1000 < heavy[0] < 520 * 400 / 38.86
    assert model.p_alive(np.array([0.0]), np.array([0.0]), np.array([10.0]))[0] == 1.0


def simulate_bgnbd(n: int, r: float, alpha: float, a: float, b: float, T: float, seed: int = 0):
    """Draw (x, t_x, T) from the BG/NBD process itself, vectorised."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(r, 1 / alpha, n)
    p = rng.beta(a, b, n)
    arrivals = rng.poisson(lam * T)  # purchases a customer who never dropped out would make
    lifetime = rng.geometric(p)  # drop-out comes right after a repeat purchase: after the k-th, k >= 1
    x = np.minimum(arrivals, lifetime)
    # Given n arrivals on (0, T], the x-th arrival is T times the x-th of n uniform order statistics.
    tx = np.where(x > 0, T * rng.beta(np.maximum(x, 1), np.maximum(arrivals - x + 1, 1)), 0.0)
    return x.astype(float), tx, np.full(n, T)


@pytest.mark.slow
def test_a_million_customers_fit_in_seconds_and_recover_the_parameters() -> None:
    truth = {"r": 0.5, "alpha": 8.0, "a": 0.8, "b": 2.5}
    x, tx, T = simulate_bgnbd(1_000_000, **truth, T=52.0)
    started = time.perf_counter()
    model = BetaGeoModel().fit(x, tx, T)
    seconds = time.perf_counter() - started
    print(f"BG/NBD fit on 1M customers: {seconds:.2f} s")
    assert seconds < 15
    for name, value in truth.items():
        assert model.params_[name] == pytest.approx(value, rel=0.05), name


def test_gamma_gamma_shrinks_towards_the_population_mean() -> None:
    model = GammaGammaModel()
    model.p_, model.q_, model.v_, model.loglik_ = 6.25, 3.74, 15.44, 0.0
    one, many = model.conditional_expected_average_profit(np.array([1.0, 20.0]), np.array([100.0, 100.0]))
    assert model.population_mean_ < one < many < 100


def test_unfitted_model_and_bad_inputs_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(NotFittedError):
        BetaGeoModel().p_alive([1], [1], [2])
    with pytest.raises(UserError, match="recency must not exceed T"):
        BetaGeoModel().fit([1, 2], [5, 3], [4, 4])
    bad = tmp_path / "orders.csv"
    bad.write_text("客户,日期,金额\nA1,2024-01-03,10\nA2,昨天,12\n", encoding="gbk")
    source = FileSource(path=bad, customer_col="客户", date_col="日期", value_col="金额")
    # Rows as a spreadsheet numbers them: the header is row 1, so 昨天 is on row 3, in either encoding.
    with pytest.raises(UserError, match=r"row 3, column '日期'"):
        fit_clv(source, calibration_end=dt.date(2024, 1, 31))
    bad.write_text("客户,日期,金额\nA1,2024-01-03,10\nA2,2024-01-04,abc\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"row 3, column '金额': 'abc'"):
        fit_clv(source, calibration_end=dt.date(2024, 1, 31))


def test_clv_fit_cli_on_the_store_matches_the_library_and_forecasts_the_holdout(
    shop_settings: Settings,
) -> None:
    from marketpilot.cli import app

    args = ["clv", "fit", "--home", str(shop_settings.home), "--calibration-end", "2025-06-30", "--json"]
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 0, out.output
    payload = json.loads(out.stdout)
    direct = fit_clv(shop_settings, calibration_end=dt.date(2025, 6, 30), time_unit="W")
    expected = direct.model_dump(mode="json")
    assert payload["customers"] == expected["customers"]
    for part in ("bgnbd", "gamma_gamma", "holdout"):  # DuckDB's row order may move the last digits
        assert payload[part] == pytest.approx(expected[part], rel=1e-6), part
    buyers = generated_shop_buyers(shop_settings, until="2025-06-30")
    assert payload["customers"] == buyers
    assert payload["gamma_gamma"] is not None  # the store has order values
    holdout = payload["holdout"]  # the shop runs to 2025-12-31, past the calibration end
    print(f"shop holdout: predicted {holdout['predicted_total']:.0f} vs actual {holdout['actual_total']:.0f}")
    assert holdout["predicted_total"] == pytest.approx(holdout["actual_total"], rel=0.25)


def test_predict_clv_on_the_store_ranks_the_truly_alive_above_the_lapsed(shop_settings: Settings) -> None:
    from sklearn.metrics import roc_auc_score

    result, scores = predict_clv(shop_settings, horizon_days=365)
    assert result.customers == len(scores) == scores["customer_id"].nunique()
    assert result.as_of == dt.date(2025, 12, 31)
    assert scores["p_alive"].between(0, 1).all() and (scores["expected_purchases"] >= 0).all()
    assert (scores["clv"] >= 0).all() and result.clv_total == pytest.approx(scores["clv"].sum())
    assert pd.read_parquet(result.parquet)["customer_id"].tolist() == scores["customer_id"].tolist()
    params = json.loads(shop_settings.path("models", "clv", "params.json").read_text(encoding="utf-8"))
    assert params["customers"] == result.customers and set(params["gamma_gamma"]) == {"p", "q", "v"}
    # The generator records who is still active at the end: P(alive) must tell them apart.
    truth = pd.read_parquet(truth_paths(shop_settings.home.parent / "files")["customers"])
    merged = scores.merge(truth, on="customer_id")
    auc = roc_auc_score(merged["alive_at_end"], merged["p_alive"])
    print(f"P(alive) vs the generator's alive_at_end: AUC {auc:.3f}")
    assert len(merged) == len(scores) and auc > 0.65  # 0.70 on this shop; chance is 0.5


def test_clv_predict_cli_scores_the_store_and_a_file(
    shop_settings: Settings, data_dir: Path, home: Path
) -> None:
    from marketpilot.cli import app

    base = ["clv", "predict", "--home", str(shop_settings.home), "--json"]
    short = CliRunner().invoke(app, [*base, "--horizon-days", "90"])
    year = CliRunner().invoke(app, [*base, "--horizon-days", "365", "--as-of", "2025-12-31"])
    assert short.exit_code == 0 and year.exit_code == 0, short.output + year.output
    short_payload, year_payload = json.loads(short.stdout), json.loads(year.stdout)
    assert short_payload["customers"] == year_payload["customers"] and year_payload["horizon_days"] == 365
    assert 0 < short_payload["expected_purchases_total"] < year_payload["expected_purchases_total"]
    assert 0 < short_payload["clv_total"] < year_payload["clv_total"]
    assert Path(year_payload["csv"]).exists()
    # the total names its currency, as the purchase counts' amounts do
    plain = CliRunner().invoke(app, [*base[:-1], "--horizon-days", "90"])
    total = f"CLV total CNY {short_payload['clv_total']:,.0f}"
    assert total in " ".join(plain.stdout.split()), plain.stdout
    args = ["clv", "predict", "--home", str(home), "--json"]
    args += ["--transactions", str(data_dir / "cdnow" / "CDNOW_sample.txt"), "--customer-col", "column0"]
    args += ["--date-col", "column2", "--date-format", "%Y%m%d"]
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 0, out.output
    payload = json.loads(out.stdout)
    assert payload["customers"] == 2357 and payload["as_of"] == "1998-06-30"
    assert payload["clv_total"] is None  # no --value-col: purchase counts only


def test_a_small_shop_fits_without_numpy_warnings_on_the_terminal(tmp_path: Path) -> None:
    """A 300-customer shop fits a, b in the millions: on the way the optimiser tries steps where exp()
    overflows and the likelihood is NaN. It backs off from them by itself, so the RuntimeWarnings that
    `clv predict` and `propensity train` printed were noise; the fitted point is still checked."""
    from marketpilot.data import Store
    from marketpilot.data.sample import generate_shop, load_shop

    settings = Settings(home=tmp_path / "home")
    with Store.open(settings) as store:
        load_shop(store, generate_shop(tmp_path / "files", customers=300, seed=7))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result, scores = predict_clv(settings, horizon_days=90)
    assert result.customers == len(scores) > 100
    assert np.isfinite(scores["expected_purchases"]).all() and scores["p_alive"].between(0, 1).all()


def test_a_fit_whose_beta_is_a_point_still_predicts() -> None:
    """a, b in the millions (a small shop whose buyers look alike): the power underflows, the hyp2f1
    overflows, and every prediction was NaN. The Beta is then a point p = a/(a+b) and the expectation
    has a closed form."""
    from marketpilot.analytics.clv.bgnbd import BetaGeoModel

    model = BetaGeoModel()
    model.r_, model.alpha_, model.a_, model.b_, model.loglik_ = 1.86, 43.3, 3_533_019.0, 21_380_135.0, 0.0
    x, tx, big_t = np.array([0.0, 1, 3, 8]), np.array([0.0, 10, 30, 40]), np.full(4, 50.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning on the way either
        predicted = model.conditional_expected_purchases(30, x, tx, big_t)
    p = model.a_ / (model.a_ + model.b_)
    alive = 1 / (1 + np.where(x > 0, p / (1 - p) * ((43.3 + big_t) / (43.3 + tx)) ** (1.86 + x), 0))
    closed = (1 - ((43.3 + big_t) / (43.3 + big_t + p * 30)) ** (1.86 + x)) / p * alive
    assert np.allclose(predicted, closed, rtol=1e-5)


def test_clv_fit_reads_a_workbook_with_amounts_as_shops_write_them(data_dir: Path, tmp_path: Path) -> None:
    """The CDNOW sample as a shop's workbook: dates as dates, amounts as "$1,234.50" text."""
    from marketpilot.cli import app

    raw = pd.read_csv(data_dir / "cdnow" / "CDNOW_sample.txt", sep=r"\s+", header=None, dtype=str)
    book = pd.DataFrame(
        {
            "客户": raw[0],
            "日期": pd.to_datetime(raw[2], format="%Y%m%d"),
            "金额": raw[4].astype(float).map(lambda v: f"${v:,.2f}"),
        }
    )
    book.to_excel(tmp_path / "订单.xlsx", index=False)
    args = ["clv", "fit", "--transactions", str(tmp_path / "订单.xlsx"), "--customer-col", "客户"]
    args += ["--date-col", "日期", "--value-col", "金额", "--calibration-end", "1997-09-30"]
    args += ["--time-unit", "W"]
    out = CliRunner().invoke(app, [*args, "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["bgnbd"]["loglik"] == pytest.approx(-9582.4, rel=0.001)


def test_a_fit_whose_gamma_is_a_point_still_predicts() -> None:
    """Buyers who all buy at one steady rate and never lapse fit r, α in the hundreds of thousands and
    a near 0: scipy's hyp2f1 returns NaN there, and the point-Beta limit the code fell back to summed
    3,000 customers' holdout purchases to −1. With no dropout the expectation is (r+x)/(α+T)·t."""
    from marketpilot.analytics.clv.bgnbd import BetaGeoModel

    model = BetaGeoModel()
    model.r_, model.alpha_, model.a_, model.b_, model.loglik_ = 155_352.8, 633_947.9, 1e-4, 1746.5, 0.0
    x, tx, big_t = np.array([0.0, 3, 5, 10]), np.array([0.0, 10, 20, 29]), np.full(4, 30.0)
    predicted = model.conditional_expected_purchases(13, x, tx, big_t)
    assert np.allclose(predicted, (model.r_ + x) / (model.alpha_ + big_t) * 13, rtol=1e-3)


def test_steady_buyers_who_never_lapse_get_a_positive_forecast(tmp_path: Path) -> None:
    """2,000 customers buying as Poisson processes at 0.25 a week for a year, none lapsing: the fit
    finds no dropout, and the holdout forecast comes within 10 % of the purchases made."""
    rng = np.random.default_rng(3)
    start, rows = dt.date(2023, 1, 1), []
    for i in range(2000):
        days = np.unique(rng.integers(0, 365, rng.poisson(0.25 * 52)))
        rows += [(f"C{i}", start + dt.timedelta(days=int(d)), 50.0) for d in days]
    path = tmp_path / "steady.csv"
    pd.DataFrame(rows, columns=["customer", "day", "value"]).to_csv(path, index=False)
    from marketpilot.cli import app

    result = CliRunner().invoke(
        app,
        ["clv", "fit", "--transactions", str(path), "--customer-col", "customer", "--date-col", "day",
         "--calibration-end", "2023-09-30", "--home", str(tmp_path / "home"), "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    holdout = json.loads(result.stdout)["holdout"]
    assert holdout["predicted_total"] > 0
    assert holdout["predicted_total"] == pytest.approx(holdout["actual_total"], rel=0.1)


def test_clv_fit_reads_chinese_and_day_first_dates(data_dir: Path, tmp_path: Path) -> None:
    """A back office's 2024年3月5日 and a European export's 05/03/2024 (day first: another row has 13/03)
    give the fit the CDNOW sample's own dates; they were "cannot read as a date" before."""
    from marketpilot.cli import app

    cdnow = pd.read_csv(
        data_dir / "cdnow" / "CDNOW_sample.txt", sep=r"\s+", header=None, usecols=[0, 2, 4], dtype=str
    )
    cdnow.columns = ["客户", "日期", "金额"]
    days = pd.to_datetime(cdnow["日期"], format="%Y%m%d")
    fits = []
    for written, codec in (
        (days.dt.strftime("%Y年%-m月%-d日"), "gbk"),
        (days.dt.strftime("%d/%m/%Y"), "utf-8"),
    ):
        path = tmp_path / f"订单_{codec}.csv"
        cdnow.assign(日期=written).to_csv(path, index=False, encoding=codec)
        args = ["clv", "fit", "--transactions", str(path), "--customer-col", "客户", "--date-col", "日期"]
        args += ["--value-col", "金额", "--calibration-end", "1997-09-30", "--json"]
        result = CliRunner().invoke(app, [*args, "--home", str(tmp_path / "home")])
        assert result.exit_code == 0, result.output
        fits.append(json.loads(result.stdout)["bgnbd"])
    assert fits[0] == pytest.approx(fits[1]) and fits[0]["loglik"] == pytest.approx(-9582.4, rel=0.001)


def test_a_file_whose_dates_fit_either_order_reads_as_load_reads_it(tmp_path: Path) -> None:
    """05/03/2024 with nothing above 12 is month first in `load` (`mapping.day_first_of`); DuckDB's own
    sniffing had read the same UTF-8 file day first, so the file and the store gave two CLVs. Leading
    zeros of customer ids stay."""
    path = tmp_path / "orders.csv"
    path.write_text('客户,日期,金额\n00123,05/03/2024,"1,299.00"\n0123,06/03/2024,¥20\n', encoding="utf-8")
    con = duckdb.connect()
    register_file_transactions(con, path, customer_col="客户", date_col="日期", value_col="金额")
    rows = con.execute(
        f"SELECT customer_id, CAST(ordered_at AS DATE), value FROM {TX_VIEW} ORDER BY ordered_at"
    ).fetchall()
    assert rows == [("00123", dt.date(2024, 5, 3), 1299.0), ("0123", dt.date(2024, 6, 3), 20.0)]
