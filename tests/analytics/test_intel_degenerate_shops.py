"""Segments and propensity on the shops small businesses really have: customers who all look alike,
a few distinct kinds of customer, too few buyers in a window. Each is a UserError that names what
is missing, not a scikit-learn ValueError or a k=3 result with one segment."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import ConvergenceWarning
from typer.testing import CliRunner

from marketpilot.analytics.clv import BetaGeoModel
from marketpilot.analytics.propensity import PropensityModel, train_propensity
from marketpilot.analytics.segments import run_segmentation
from marketpilot.config import Settings, get_settings
from marketpilot.data import Store
from marketpilot.data.sample import make_sample
from marketpilot.errors import UserError


def _store(settings: Settings, totals: list[float], months: tuple[int, ...] = (1, 2)) -> Settings:
    """One customer per total, each with an order of that total on the 10th of each of the months."""
    orders = pd.DataFrame(
        [
            (f"O{c}-{m}", f"C{c:02d}", f"2025-{m:02d}-10", round(t * 100))
            for c, t in enumerate(totals)
            for m in months
        ],
        columns=["order_id", "customer_id", "ordered_at", "total_minor"],
    ).assign(ordered_at=lambda f: pd.to_datetime(f["ordered_at"]), status="completed", currency="CNY")
    lines = orders[["order_id"]].assign(line_no=1, product_id="P1", quantity=1, unit_price_minor=1000)
    with Store.open(settings) as store, store.transaction():
        customers = pd.DataFrame({"customer_id": orders["customer_id"].unique(), "is_guest": False})
        store.upsert("customers", customers)
        store.upsert(
            "products", pd.DataFrame({"product_id": ["P1"], "name": ["茶叶"], "price_minor": [1000]})
        )
        store.upsert("orders", orders)
        store.upsert("order_items", lines.assign(currency="CNY"))
    return settings


@pytest.mark.parametrize("options", [{}, {"k": 3}, {"method": "hdbscan"}])
def test_identical_customers_have_no_segments_to_find(settings: Settings, options: dict) -> None:
    # Was a Gamma-Gamma "did not converge" error (no spread of spend), then, past it, a silhouette
    # ValueError for k auto and a "k=3" result holding one segment.
    _store(settings, [100.0] * 30)
    with pytest.raises(UserError, match="All 30 customers have the same purchase profile"):
        run_segmentation(settings, personas=False, report=False, **options)


def test_two_kinds_of_customer_give_two_segments(settings: Settings) -> None:
    _store(settings, [100.0] * 15 + [900.0] * 15)
    with pytest.raises(UserError, match="--k 3 asks for more segments than the 2 distinct purchase profiles"):
        run_segmentation(settings, k=3, personas=False, report=False)
    result = run_segmentation(settings, personas=False, report=False)  # auto tried k = 2..2 only
    assert result.k == 2 and sorted(s.stats.customers for s in result.segments) == [15, 15]
    assert result.k_choice is not None and result.k_choice.rule == "best_silhouette"


def test_propensity_with_too_few_buyers_says_how_many(tmp_path_factory: pytest.TempPathFactory) -> None:
    settings = get_settings(tmp_path_factory.mktemp("few_buyers") / "home")
    make_sample(settings, customers=200, products=24, seed=3)
    # A one-day horizon: one buyer in the training window. Was sklearn's "least populated class" error.
    # 150 buyers before it: 3 more had sales, but every one of them was cancelled or returned in full.
    with pytest.raises(UserError, match=r"training window \(1 days from .*\), 1 of 150 customers bought"):
        train_propensity(settings, target="purchase", horizon_days=1)


def test_model_refuses_too_few_of_one_class_with_the_counts() -> None:
    X = pd.DataFrame({"a": np.arange(40.0)})
    with pytest.raises(UserError, match="only one outcome class \\(0 positive, 40 negative\\)"):
        PropensityModel().fit(X, np.zeros(40))
    with pytest.raises(UserError, match="5 positive, 35 negative \\(at least 10 of each\\)"):
        PropensityModel().fit(X, np.r_[np.ones(5), np.zeros(35)])


def test_identical_customers_and_one_extreme_fit_without_a_convergence_warning(settings: Settings) -> None:
    # k=2 had a one-customer cluster; refitting k=2 on the 199 identical customers left printed
    # sklearn's "Number of distinct clusters (1) found smaller than n_clusters (2)" to the terminal.
    _store(settings, [100.0] * 199 + [9000.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        result = run_segmentation(settings, personas=False, report=False)
    assert result.k == 1 and result.k_choice is not None and result.k_choice.rule == "too_small"


def test_clv_fit_on_identical_customers_warns_that_it_ran_off_and_missed_the_holdout(home: Path) -> None:
    # Was r ≈ 9.3·10⁶, Gamma-Gamma p ≈ 1.7·10⁸ and a holdout of 30 predicted vs 60 made, without a word.
    from marketpilot.cli import app

    _store(get_settings(home), [100.0] * 30, months=(1, 2, 3, 4, 5))
    args = ["clv", "fit", "--calibration-end", "2025-03-31", "--home", str(home)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy RuntimeWarning on the way
        payload = json.loads(CliRunner().invoke(app, [*args, "--json"]).stdout)
        text = CliRunner().invoke(app, args)
    assert payload["holdout"]["far_off"] and payload["holdout"]["actual_total"] == 60
    notes = payload["warnings"]
    assert len(notes) == 3 and notes[0].startswith("BG/NBD ran off to a limit (r = ")
    assert notes[1].startswith("Gamma-Gamma ran off to a limit (p = ")
    assert "holdout check is far off: 30 purchases predicted, 60 made" in notes[2]
    assert text.exit_code == 0 and "warning: BG/NBD ran off to a limit" in text.output


def test_two_kinds_of_buyer_fit_bgnbd_at_its_bounds_instead_of_failing() -> None:
    # The likelihood keeps rising towards a limit: L-BFGS-B's trial steps went to exp(10⁷), the fit ended
    # on NaN ("ABNORMAL") and propensity training stopped with "BetaGeoModel did not converge".
    x, tx = np.repeat([1.0, 9.0], 15), np.repeat([31.0, 304.0], 15)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = BetaGeoModel().fit(x, tx, np.full(30, 304.0))
        predicted = model.conditional_expected_purchases(30.0, x, tx, np.full(30, 304.0))
    assert set(model.boundary_params_) >= {"r"} and np.isfinite(predicted).all()


def test_bgnbd_without_repeat_buyers_names_the_cause() -> None:
    with pytest.raises(UserError, match="needs customers who bought more than once; none of the 40"):
        BetaGeoModel().fit(np.zeros(40), np.zeros(40), np.full(40, 20.0))


def test_propensity_on_identical_customers_with_mixed_outcomes_says_so(settings: Settings) -> None:
    # Was a RuntimeWarning from bgnbd.py and "BetaGeoModel did not converge ... few repeat buyers".
    _store(settings, [100.0] * 60, months=(1, 2))
    with Store.open(settings) as store, store.transaction():  # half of them come back in Nov and Dec
        later = pd.DataFrame(
            [(f"L{c}-{m}", f"C{c:02d}", f"2025-{m}-10", 10000) for c in range(0, 60, 2) for m in (11, 12)],
            columns=["order_id", "customer_id", "ordered_at", "total_minor"],
        ).assign(ordered_at=lambda f: pd.to_datetime(f["ordered_at"]), status="completed", currency="CNY")
        store.upsert("orders", later)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(UserError, match="All 60 customers of the training window have the same features"):
            train_propensity(settings, target="purchase")


def test_segments_show_the_clv_fits_warnings(home: Path) -> None:
    # The segment table's CLV and P(alive) come from BG/NBD and Gamma-Gamma fits that ran off to a
    # limit on these look-alike customers; `clv fit` said so, `segment` did not.
    from marketpilot.cli import app

    settings = _store(get_settings(home), [100.0] * 15 + [900.0] * 15, months=(1, 2, 3, 4, 5))
    result = run_segmentation(settings, personas=False, report=False)
    notes = result.warnings
    assert any(n.startswith("segment CLV: BG/NBD ran off to a limit") for n in notes), notes
    assert any(n.startswith("segment CLV: Gamma-Gamma ran off to a limit") for n in notes), notes
    assert any("P(alive)" in n and "BG/NBD ran off to a limit" in n for n in notes), notes
    text = CliRunner().invoke(app, ["segment", "--no-personas", "--home", str(home)])
    assert text.exit_code == 0 and "warning: segment CLV: BG/NBD ran off to a limit" in text.stderr


def test_propensity_shows_its_bgnbd_features_warnings(home: Path) -> None:
    """Two groups whose purchase days are identical: the BG/NBD behind the P(alive) features runs off
    to a limit at every cutoff, and training and scoring say so."""
    from marketpilot.analytics.propensity import score_propensity
    from marketpilot.cli import app

    settings = get_settings(home)
    rows = [
        (f"O{c}-{m}", f"C{c:02d}", f"2025-{m:02d}-10", 90000 if c < 30 else 10000)
        for c in range(60)
        for m in ((1, 2, 3, 4, 5) if c < 30 else (1, 2, 3))
    ]
    orders = pd.DataFrame(rows, columns=["order_id", "customer_id", "ordered_at", "total_minor"])
    orders = orders.assign(
        ordered_at=lambda f: pd.to_datetime(f["ordered_at"]), status="completed", currency="CNY"
    )
    with Store.open(settings) as store, store.transaction():
        store.upsert(
            "customers", pd.DataFrame({"customer_id": orders["customer_id"].unique(), "is_guest": False})
        )
        store.upsert("orders", orders)
    report = train_propensity(settings, horizon_days=30)
    assert [n.split(":")[0] for n in report.warnings] == [
        "BG/NBD features (P(alive), expected purchases) before 2025-03-12",
        "BG/NBD features (P(alive), expected purchases) before 2025-04-11",
    ]
    assert all("BG/NBD ran off to a limit" in n for n in report.warnings)
    summary, _ = score_propensity(settings)
    assert len(summary.warnings) == 1 and "before 2025-05-11: BG/NBD ran off" in summary.warnings[0]
    text = CliRunner().invoke(app, ["propensity", "score", "--home", str(home)])
    assert text.exit_code == 0 and "warning: BG/NBD features (P(alive)" in text.stderr
