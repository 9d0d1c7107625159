"""RFM, CLV, propensity, segments and review insight called from Python as a notebook does: dates as
ISO text work, and arguments the CLI would refuse are UserErrors naming the argument, raised before
any work (they were TypeErrors, silent nonsense, or pydantic tracebacks after the work)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest

from marketpilot.analytics.clv import fit_clv, predict_clv
from marketpilot.analytics.propensity import score_propensity, train_propensity
from marketpilot.analytics.reviews import review_insight
from marketpilot.analytics.rfm import run_rfm
from marketpilot.analytics.segments import run_segmentation
from marketpilot.config import Settings, get_settings
from marketpilot.data.dates import as_date
from marketpilot.data.sample import make_sample
from marketpilot.errors import UserError


@pytest.fixture(scope="module")
def small_shop(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = get_settings(tmp_path_factory.mktemp("intel_inputs") / "home")
    make_sample(settings, customers=200, products=40, seed=5)
    return settings


def test_dates_may_be_iso_text(small_shop: Settings) -> None:
    as_text, _ = run_rfm(small_shop, as_of="2025-06-30")
    as_date_, _ = run_rfm(small_shop, as_of=dt.date(2025, 6, 30))
    assert as_text == as_date_ and as_text.as_of == dt.date(2025, 6, 30)
    fit = fit_clv(small_shop, calibration_end="2025-06-30")
    assert fit.holdout is not None  # the data run past the calibration end
    scores, _ = predict_clv(small_shop, as_of="2025-12-31", horizon_days=90)
    assert scores.as_of == dt.date(2025, 12, 31)


def test_as_date_reads_dates_datetimes_and_text() -> None:
    day = dt.date(2025, 6, 30)
    assert as_date("2025-06-30", "as_of") == as_date(dt.datetime(2025, 6, 30, 12), "as_of") == day
    assert as_date(None, "as_of") is None
    for bad in ("30/06/2025", "yesterday", 20250630):
        with pytest.raises(UserError, match="as_of must be a date"):
            as_date(bad, "as_of")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda s: run_rfm(s, as_of="2025-13-01"), "as_of must be a date"),
        (lambda s: fit_clv(s, calibration_end="June"), "calibration_end must be a date"),
        (lambda s: predict_clv(s, horizon_days=0), "horizon_days must be at least 1"),
        (lambda s: train_propensity(s, target="purchases"), "target must be 'purchase' or 'churn'"),
        (lambda s: train_propensity(s, horizon_days=0), "horizon_days must be at least 1"),
        (lambda s: score_propensity(s, target="repurchase"), "target must be"),
        (lambda s: run_segmentation(s, k=1, personas=False), "k must be 'auto' or an integer >= 2"),
        (lambda s: run_segmentation(s, k="4", personas=False), "k must be"),
        (lambda s: run_segmentation(s, method="dbscan", personas=False), "method must be"),
        (lambda s: run_segmentation(s, lang="fr", personas=False), "lang must be 'zh' or 'en'"),
        (lambda s: run_segmentation(s, k=3, method="hdbscan", personas=False), "HDBSCAN finds its own"),
        (lambda s: review_insight(s, lang="fr", use_llm=False), "lang must be 'zh' or 'en'"),
    ],
)
def test_bad_arguments_are_user_errors(
    settings: Settings, call: Callable[[Settings], object], words: str
) -> None:
    # An empty home: each is refused before the store is read.
    with pytest.raises(UserError, match=words):
        call(settings)
