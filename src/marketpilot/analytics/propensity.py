"""Propensity ("buys in the next N days") and churn ("no purchase in the next N days among recently
active customers") models: LightGBM on a time split, probability-calibrated, evaluated on a later window.

Time split, with as_of the day after the last purchase in the store:

    train features < t_train ≤ train labels < t_test ≤ test labels < as_of,   t_test = as_of − N days

The model is fitted on the train snapshot only; a validation slice of THAT snapshot drives early
stopping and the probability calibration. The test window is used once, for the reported metrics.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Literal

import joblib
import numpy as np
import pandas as pd
from pydantic import BaseModel
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score
from sklearn.model_selection import train_test_split

from marketpilot.analytics.customer_features import customer_features, feature_warnings, purchases_between
from marketpilot.analytics.outputs import write_table
from marketpilot.analytics.purchases import registered_purchases
from marketpilot.atomic import write_text
from marketpilot.config import Settings
from marketpilot.data import Store
from marketpilot.data.dates import as_date
from marketpilot.errors import MissingExtraError, NotFittedError, UserError

Target = Literal["purchase", "churn"]

# Fewest customers of each outcome a model is trained on: a quarter of them validate (early stopping,
# calibration), and that quarter must hold both outcomes.
MIN_CLASS_ROWS = 10


class PropensityModel(BaseEstimator, ClassifierMixin):
    """Gradient-boosted trees whose scores are mapped to calibrated probabilities.

    `fit` holds out `validation_fraction` of the rows it is given: LightGBM stops early on them, the
    tree size is picked among `num_leaves` by their log-loss (small shops need small trees, large
    ones can afford bigger), and the calibrator (sigmoid keeps the ranking; isotonic can tie scores)
    is fitted on their out-of-sample scores. The evaluation window is never looked at."""

    def __init__(
        self,
        n_estimators: int = 400,
        learning_rate: float = 0.03,
        num_leaves: tuple[int, ...] = (4, 8, 16),
        min_child_samples: int = 20,
        calibration: Literal["isotonic", "sigmoid"] = "sigmoid",
        validation_fraction: float = 0.25,
        random_state: int = 0,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.calibration = calibration
        self.validation_fraction = validation_fraction
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> PropensityModel:
        try:
            import lightgbm as lgb
        except ImportError as exc:  # a core dependency, but wheels are missing on some platforms
            raise MissingExtraError("lightgbm", "core") from exc
        y = np.asarray(y, dtype=int)
        positives = int(y.sum())
        if len(np.unique(y)) < 2:
            raise UserError(
                f"The training window has only one outcome class ({positives} positive, "
                f"{len(y) - positives} negative); use a longer history or horizon."
            )
        if min(positives, len(y) - positives) < MIN_CLASS_ROWS:
            # The stratified validation slice needs both classes for early stopping and calibration;
            # with fewer, sklearn raised a ValueError about "groups" or fitted a meaningless model.
            raise UserError(
                f"Too few rows of one outcome to learn from: {positives} positive, "
                f"{len(y) - positives} negative (at least {MIN_CLASS_ROWS} of each)."
            )
        if len(X) and (X.nunique(dropna=False) <= 1).all():
            # Every row alike: no tree can split, and the "model" would be the base rate with an AUC of 0.5.
            raise UserError(
                f"All {len(y)} customers of the training window have the same features ({positives} "
                f"positive, {len(y) - positives} negative): nothing tells one outcome from the other."
            )
        X_fit, X_val, y_fit, y_val = train_test_split(
            X, y, test_size=self.validation_fraction, stratify=y, random_state=self.random_state
        )
        best: tuple[float, object] | None = None
        for leaves in self.num_leaves:
            candidate = lgb.LGBMClassifier(
                n_estimators=self.n_estimators,
                learning_rate=self.learning_rate,
                num_leaves=leaves,
                min_child_samples=self.min_child_samples,
                subsample=0.8,
                subsample_freq=1,
                colsample_bytree=0.8,
                reg_lambda=1.0,
                random_state=self.random_state,
                n_jobs=1,
                verbose=-1,
            )
            candidate.fit(
                X_fit,
                y_fit,
                eval_X=(X_val,),
                eval_y=(y_val,),
                callbacks=[lgb.early_stopping(40, verbose=False)],
            )
            loss = log_loss(y_val, candidate.predict_proba(X_val)[:, 1])
            if best is None or loss < best[0]:
                best = (loss, candidate)
        booster = best[1]
        raw = booster.predict_proba(X_val)[:, 1]
        if self.calibration == "isotonic":
            calibrator = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, y_val)
        else:
            calibrator = LogisticRegression().fit(_logit(raw)[:, None], y_val)
        self.booster_ = booster
        self.num_leaves_ = int(booster.num_leaves)
        self.calibrator_ = calibrator
        self.feature_names_in_ = np.asarray(X.columns)
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        if not hasattr(self, "booster_"):
            raise NotFittedError("PropensityModel is not fitted yet; call fit() first.")
        raw = self.booster_.predict_proba(X[list(self.feature_names_in_)])[:, 1]
        if self.calibration == "isotonic":
            p = self.calibrator_.predict(raw)
        else:
            p = self.calibrator_.predict_proba(_logit(raw)[:, None])[:, 1]
        return np.column_stack([1 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


class LiftRow(BaseModel):
    decile: int
    customers: int
    positives: int
    rate: float
    lift: float
    cumulative_capture: float


class Metrics(BaseModel):
    auc: float
    pr_auc: float
    brier: float
    base_rate: float
    mean_predicted: float
    customers: int
    lift: list[LiftRow]


class PropensityReport(BaseModel):
    target: Target
    version: str
    horizon_days: int
    train_cutoff: dt.date
    test_cutoff: dt.date
    train_customers: int
    test: Metrics
    baseline_rfm_logistic_auc: float
    model_path: str
    warnings: list[str] = []  # the BG/NBD feature fits' (parameters that ran off to a limit)


def lift_table(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list[LiftRow]:
    """Customers sorted by score into deciles (1 = highest scores): response rate and lift per decile."""
    order = np.argsort(-p, kind="stable")
    y_sorted = np.asarray(y)[order]
    total, base = max(int(y_sorted.sum()), 1), max(float(y_sorted.mean()), 1e-12)
    rows, captured = [], 0
    for i, chunk in enumerate(np.array_split(y_sorted, bins), start=1):
        captured += int(chunk.sum())
        rate = float(chunk.mean()) if len(chunk) else 0.0
        rows.append(
            LiftRow(
                decile=i,
                customers=len(chunk),
                positives=int(chunk.sum()),
                rate=rate,
                lift=rate / base,
                cumulative_capture=captured / total,
            )
        )
    return rows


def evaluate(y: np.ndarray, p: np.ndarray) -> Metrics:
    return Metrics(
        auc=float(roc_auc_score(y, p)),
        pr_auc=float(average_precision_score(y, p)),
        brier=float(brier_score_loss(y, p)),
        base_rate=float(np.mean(y)),
        mean_predicted=float(np.mean(p)),
        customers=len(y),
        lift=lift_table(y, p),
    )


def snapshot(
    con, cutoff: dt.date, horizon_days: int, target: Target, *, categories: list[str] | None = None
) -> tuple[pd.DataFrame, np.ndarray]:
    """Features before `cutoff` and the outcome in [cutoff, cutoff + horizon). Churn is defined on
    customers who bought in the year before the cutoff."""
    X = customer_features(con, cutoff, categories=categories)
    bought = purchases_between(con, cutoff, cutoff + dt.timedelta(days=horizon_days))
    y = X.index.isin(bought.index).astype(int)
    if target == "churn":
        active = (X["orders_365d"] > 0).to_numpy()
        X, y = X[active], 1 - y[active]
    return X, y


RFM_COLUMNS = ["recency_days", "frequency", "monetary"]


def rfm_logistic_auc(
    X_train: pd.DataFrame, y_train: np.ndarray, X_test: pd.DataFrame, y_test: np.ndarray
) -> float:
    """The baseline to beat: logistic regression on log-scaled recency, frequency and monetary value."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    model = make_pipeline(FunctionTransformer(np.log1p), StandardScaler(), LogisticRegression())
    model.fit(X_train[RFM_COLUMNS].clip(lower=0), y_train)
    return float(roc_auc_score(y_test, model.predict_proba(X_test[RFM_COLUMNS].clip(lower=0))[:, 1]))


def _next_version(root: Path) -> str:
    existing = [int(p.name[1:]) for p in root.glob("v*") if p.name[1:].isdigit()] if root.exists() else []
    return f"v{max(existing, default=0) + 1}"


def _check_target(target: str) -> None:
    # Any other word trained a churn-like model and failed only when the report was built.
    if target not in ("purchase", "churn"):
        raise UserError(f"target must be 'purchase' or 'churn', got {target!r}.")


def _check_outcomes(
    y: np.ndarray, target: Target, start: dt.date, horizon_days: int, window: str, *, minimum: int
) -> None:
    """Refuse a window with too few customers of either outcome, naming the counts."""
    positives = int(np.sum(y))
    negatives = len(y) - positives
    if min(positives, negatives) >= minimum:
        return
    yes, no = ("bought", "did not buy") if target == "purchase" else ("lapsed", "bought again")
    purpose = "learn from" if window == "training" else "measure the model on"
    raise UserError(
        f"In the {window} window ({horizon_days} days from {start}), {positives} of {len(y)} customers "
        f"{yes} and {negatives} {no}: too few of one outcome to {purpose} (at least {minimum} of each).",
        hint="use a longer --horizon-days, or a store with more history",
    )


def train_propensity(
    settings: Settings,
    *,
    target: Target = "purchase",
    horizon_days: int = 30,
    as_of: dt.date | str | None = None,
    model: PropensityModel | None = None,
) -> PropensityReport:
    """Build the time split from the store, fit, evaluate on the later window, persist under
    <home>/models/propensity/<target>/v<N>/ (model.joblib + report.json; LATEST names the newest)."""
    _check_target(target)
    if horizon_days < 1:
        raise UserError(f"horizon_days must be at least 1, got {horizon_days}.")
    as_of = as_date(as_of, "as_of")
    with Store.open(settings, read_only=True) as store:
        con = store.con
        last = registered_purchases(con)
        end = as_of or last + dt.timedelta(days=1)
        test_cutoff = end - dt.timedelta(days=horizon_days)
        train_cutoff = test_cutoff - dt.timedelta(days=horizon_days)
        X_train, y_train = snapshot(con, train_cutoff, horizon_days, target)
        X_test, y_test = snapshot(
            con, test_cutoff, horizon_days, target, categories=X_train.attrs["categories"]
        )
    if len(X_train) < 50:
        raise UserError(
            f"Only {len(X_train)} customers bought before {train_cutoff}: too few to train on.",
            hint="Use a shorter --horizon-days or load more history.",
        )
    _check_outcomes(y_train, target, train_cutoff, horizon_days, "training", minimum=MIN_CLASS_ROWS)
    _check_outcomes(y_test, target, test_cutoff, horizon_days, "test", minimum=1)  # AUC needs both
    fitted = (model or PropensityModel()).fit(X_train, y_train)
    metrics = evaluate(y_test, fitted.predict_proba(X_test)[:, 1])
    root = settings.path("models", "propensity", target, "LATEST").parent
    version = _next_version(root)
    folder = root / version
    folder.mkdir(parents=True)
    joblib.dump({"model": fitted, "categories": X_train.attrs["categories"]}, folder / "model.joblib")
    report = PropensityReport(
        target=target,
        version=version,
        horizon_days=horizon_days,
        train_cutoff=train_cutoff,
        test_cutoff=test_cutoff,
        train_customers=len(X_train),
        test=metrics,
        baseline_rfm_logistic_auc=rfm_logistic_auc(X_train, y_train, X_test, y_test),
        model_path=str(folder / "model.joblib"),
        warnings=feature_warnings((train_cutoff, X_train), (test_cutoff, X_test)),
    )
    (folder / "report.json").write_text(report.model_dump_json(indent=2), encoding="utf-8")
    write_text(root / "LATEST", version)
    return report


class PropensityScores(BaseModel):
    target: Target
    version: str
    as_of: dt.date
    customers: int
    mean_probability: float
    parquet: str
    csv: str
    warnings: list[str] = []  # the BG/NBD feature fit's (parameters that ran off to a limit)


def score_propensity(
    settings: Settings,
    *,
    target: Target = "purchase",
    version: str | None = None,
    as_of: dt.date | str | None = None,
) -> tuple[PropensityScores, pd.DataFrame]:
    """Score every customer with a persisted model (default: the latest version) at `as_of`
    (default: the day after the last purchase); written to <home>/intel/propensity_<target>.*"""
    _check_target(target)
    as_of = as_date(as_of, "as_of")
    root = settings.path("models", "propensity", target, "LATEST").parent
    if version is None:
        if not (root / "LATEST").exists():
            raise UserError(
                f"No {target} model yet.", hint=f"Train one: marketpilot propensity train --target {target}"
            )
        version = (root / "LATEST").read_text(encoding="utf-8").strip()
    path = root / version / "model.joblib"
    if not path.exists():
        raise UserError(f"No {target} model version {version} under {root}.")
    saved = joblib.load(path)
    report = json.loads((root / version / "report.json").read_text(encoding="utf-8"))
    with Store.open(settings, read_only=True) as store:
        last = registered_purchases(store.con)
        cutoff = as_of or last + dt.timedelta(days=1)
        X = customer_features(store.con, cutoff, categories=saved["categories"])
    if target == "churn":
        X = X[X["orders_365d"] > 0]
    p = saved["model"].predict_proba(X)[:, 1]
    column = f"p_{target}_{report['horizon_days']}d"
    scores = pd.DataFrame({"customer_id": X.index.to_numpy(), column: p})
    parquet, csv = write_table(settings, scores, "intel", f"propensity_{target}")
    summary = PropensityScores(
        target=target,
        version=version,
        as_of=cutoff,
        customers=len(scores),
        mean_probability=float(p.mean()) if len(p) else 0.0,
        parquet=str(parquet),
        csv=str(csv),
        warnings=feature_warnings((cutoff, X)),
    )
    return summary, scores
