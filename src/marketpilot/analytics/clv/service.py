"""CLV as a service: what `marketpilot clv fit|predict` and the demo call."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from pydantic import BaseModel

from marketpilot.analytics.clv.bgnbd import BetaGeoModel
from marketpilot.analytics.clv.gamma_gamma import GammaGammaModel
from marketpilot.analytics.clv.scoring import score_customers
from marketpilot.analytics.clv.transactions import (
    TimeUnit,
    netted_range,
    register_file_transactions,
    register_store_transactions,
    summarise_netted,
)
from marketpilot.analytics.outputs import write_table
from marketpilot.analytics.purchases import Netting, PurchaseRules, netting_rules, store_rules
from marketpilot.config import Settings
from marketpilot.data import Store
from marketpilot.data.dates import as_date
from marketpilot.errors import UserError


class FileSource(BaseModel):
    """A transaction file and which of its columns mean what."""

    path: Path
    customer_col: str
    date_col: str
    value_col: str | None = None
    date_format: str | None = None


class BGNBDParams(BaseModel):
    r: float
    alpha: float
    a: float
    b: float
    loglik: float


class GammaGammaParams(BaseModel):
    p: float
    q: float
    v: float


class HoldoutReport(BaseModel):
    mae: float
    predicted_total: float
    actual_total: float
    far_off: bool  # the totals differ by more than half and by more than Poisson noise (see HOLDOUT_*)


class CLVFitResult(BaseModel):
    bgnbd: BGNBDParams
    gamma_gamma: GammaGammaParams | None
    customers: int
    holdout: HoldoutReport | None
    purchase_rules: PurchaseRules  # how returns, cancellations and missing totals were read
    warnings: list[str] = []  # parameters that ran off to a limit, a holdout far off: read before use


class CLVScores(BaseModel):
    customers: int
    as_of: dt.date
    horizon_days: int
    expected_purchases_total: float
    clv_total: float | None
    mean_p_alive: float
    parquet: Path
    csv: Path
    purchase_rules: PurchaseRules
    warnings: list[str] = []  # parameters that ran off to a limit: the scores are the limit model's


# A holdout total outside [actual / HOLDOUT_RATIO, actual · HOLDOUT_RATIO] that also misses by more than
# HOLDOUT_NOISE Poisson standard deviations is far off (CDNOW: 1,653 vs 1,882; the sample shop within 25%).
HOLDOUT_RATIO = 1.5
HOLDOUT_NOISE = 3.0

# What each parameter's Gamma or Beta describes, for the warning when it runs off to a limit.
_MEANING = {
    "r": "purchase rates",
    "alpha": "purchase rates",
    "a": "dropout probabilities",
    "b": "dropout probabilities",
    "p": "transaction values",
    "q": "mean spend",
    "v": "mean spend",
}


def fit_warnings(model: BetaGeoModel | GammaGammaModel) -> list[str]:
    """A line when parameters ran off to a limit (see clv/base.py: SHAPE_RANGE, LOG_BOUND)."""
    off = model.boundary_params_
    if not off:
        return []
    name = "BG/NBD" if isinstance(model, BetaGeoModel) else "Gamma-Gamma"
    values = ", ".join(f"{param} = {value:.3g}" for param, value in off.items())
    spreads = " or ".join(dict.fromkeys(_MEANING[param] for param in off))
    return [
        f"{name} ran off to a limit ({values}): the data do not pin down how {spreads} vary across "
        "customers (customers who look alike do this). The parameters are a limit, not an estimate; "
        "forecasts are the limiting model's."
    ]


def holdout_report(predicted: np.ndarray, actual: np.ndarray) -> HoldoutReport:
    pred_total, actual_total = float(predicted.sum()), float(actual.sum())
    ratio_off = not actual_total / HOLDOUT_RATIO <= pred_total <= actual_total * HOLDOUT_RATIO
    noise_off = abs(pred_total - actual_total) > HOLDOUT_NOISE * np.sqrt(max(actual_total, 1.0))
    return HoldoutReport(
        mae=float(np.abs(predicted - actual).mean()),
        predicted_total=pred_total,
        actual_total=actual_total,
        far_off=ratio_off and noise_off,
    )


@contextmanager
def transactions(source: FileSource | Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB connection with the `_tx` view over a file or over the store."""
    if isinstance(source, FileSource):
        con = duckdb.connect()
        try:
            register_file_transactions(
                con,
                source.path,
                customer_col=source.customer_col,
                date_col=source.date_col,
                value_col=source.value_col,
                date_format=source.date_format,
            )
            yield con
        finally:
            con.close()
        return
    with Store.open(source, read_only=True) as store:
        register_store_transactions(store.con)
        yield store.con


def fit_models(summary: pd.DataFrame, *, with_spend: bool) -> tuple[BetaGeoModel, GammaGammaModel | None]:
    """BG/NBD on every customer; Gamma-Gamma on repeat buyers with a positive mean spend, each
    weighted by the number of repeat purchase days whose value it averages."""
    bgnbd = BetaGeoModel().fit(summary["frequency"], summary["recency"], summary["T"])
    if not with_spend:
        return bgnbd, None
    spenders = summary[(summary["monetary_frequency"] > 0) & (summary["monetary_value"] > 0)]
    return bgnbd, GammaGammaModel().fit(spenders["monetary_frequency"], spenders["monetary_value"])


def fit_clv(
    source: FileSource | Settings,
    *,
    calibration_end: dt.date | str,
    time_unit: TimeUnit = "W",
    observation_end: dt.date | str | None = None,
) -> CLVFitResult:
    """Fit BG/NBD (+ Gamma-Gamma when values exist) on transactions up to `calibration_end`; when the
    data run past it, compare predicted with actual purchases per customer in the holdout."""
    calibration_end = as_date(calibration_end, "calibration_end")  # type: ignore[assignment]
    if calibration_end is None:
        raise UserError("calibration_end is needed: the last day of the calibration period.")
    observation_end = as_date(observation_end, "observation_end")
    with transactions(source) as con:
        first, last, whole = netted_range(con)
        if calibration_end < first:
            raise UserError(f"--calibration-end {calibration_end} is before the first transaction ({first}).")
        summary, netting = summarise_netted(
            con,
            calibration_end=calibration_end,
            observation_end=observation_end or last,
            time_unit=time_unit,
            whole=whole,
        )
        with_spend = _has_values(con)
        rules = _rules(con, source, netting)
    bgnbd, gamma_gamma = fit_models(summary, with_spend=with_spend)
    holdout = None
    if (observation_end or last) > calibration_end:
        x, tx, t_obs = (summary[c].to_numpy() for c in ("frequency", "recency", "T"))
        predicted = bgnbd.conditional_expected_purchases(summary["duration_holdout"].to_numpy(), x, tx, t_obs)
        holdout = holdout_report(predicted, summary["frequency_holdout"].to_numpy())
    notes = _model_warnings(bgnbd, gamma_gamma)
    if holdout is not None and holdout.far_off:
        notes.append(
            f"The holdout check is far off: {holdout.predicted_total:.0f} purchases predicted, "
            f"{holdout.actual_total:.0f} made. Do not use this fit for forecasts."
        )
    return CLVFitResult(
        bgnbd=BGNBDParams(**bgnbd.params_, loglik=bgnbd.loglik_),
        gamma_gamma=GammaGammaParams(**gamma_gamma.params_) if gamma_gamma else None,
        customers=len(summary),
        holdout=holdout,
        purchase_rules=rules,
        warnings=notes,
    )


def _model_warnings(bgnbd: BetaGeoModel, gamma_gamma: GammaGammaModel | None) -> list[str]:
    return fit_warnings(bgnbd) + (fit_warnings(gamma_gamma) if gamma_gamma else [])


def _rules(con: duckdb.DuckDBPyConnection, source: FileSource | Settings, netting: Netting) -> PurchaseRules:
    """The purchase rule's counts; a store also has lines, whose returns inside sales are counted."""
    if isinstance(source, FileSource):
        return netting_rules(con, netting)
    return store_rules(con, netting)


def _has_values(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(con.execute("SELECT count(value) > 0 FROM _tx").fetchall()[0][0])


def predict_clv(
    settings: Settings,
    source: FileSource | None = None,
    *,
    as_of: dt.date | str | None = None,
    horizon_days: int = 365,
    annual_discount_rate: float = 0.10,
    time_unit: TimeUnit = "W",
) -> tuple[CLVScores, pd.DataFrame]:
    """Fit on everything up to `as_of` (default: the last transaction day) and score every customer;
    scores go to <home>/intel/clv.parquet and .csv, the fitted parameters to <home>/models/clv/."""
    as_of = as_date(as_of, "as_of")
    # The CLI's --horizon-days has min=1; a library call with 0 wrote a table of zero CLVs.
    if horizon_days < 1:
        raise UserError(f"horizon_days must be at least 1, got {horizon_days}.")
    with transactions(source or settings) as con:
        _, last, whole = netted_range(con)
        as_of = as_of or last
        summary, netting = summarise_netted(
            con, calibration_end=as_of, observation_end=as_of, time_unit=time_unit, whole=whole
        )
        with_spend = _has_values(con)
        rules = _rules(con, source or settings, netting)
    bgnbd, gamma_gamma = fit_models(summary, with_spend=with_spend)
    scores = score_customers(
        bgnbd,
        gamma_gamma,
        summary,
        time_unit=time_unit,
        horizon_days=horizon_days,
        annual_discount_rate=annual_discount_rate,
    )
    parquet, csv = write_table(settings, scores, "intel", "clv")
    params = {"bgnbd": bgnbd.params_, "gamma_gamma": gamma_gamma.params_ if gamma_gamma else None}
    params |= {"as_of": str(as_of), "time_unit": time_unit, "customers": len(summary)}
    settings.path("models", "clv", "params.json").write_text(json.dumps(params, indent=2), encoding="utf-8")
    result = CLVScores(
        customers=len(scores),
        as_of=as_of,
        horizon_days=horizon_days,
        expected_purchases_total=float(scores["expected_purchases"].sum()),
        clv_total=float(scores["clv"].sum()) if "clv" in scores else None,
        mean_p_alive=float(scores["p_alive"].mean()),
        parquet=parquet,
        csv=csv,
        purchase_rules=rules,
        warnings=_model_warnings(bgnbd, gamma_gamma),
    )
    return result, scores
