"""A multi-arm T-learner: one outcome model per arm (the control included); a customer's uplift for
an arm is that arm's predicted outcome minus the control's.

Gradient-boosted trees, small and strongly regularised: uplift is a difference of two noisy
predictions, and deep trees fitted on a few thousand treated rows mostly model noise. Binary outcomes
(0/1: visit, conversion) are fitted as probabilities, anything else (spend) as a regression."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

from marketpilot.errors import UserError

MIN_ROWS_PER_ARM = 200
MIN_EVENTS_PER_ARM = 10  # of each value of a 1/0 outcome
MAX_CATEGORIES = 255  # HistGradientBoosting's limit for a categorical feature


def _trees(binary: bool, seed: int) -> HistGradientBoostingClassifier | HistGradientBoostingRegressor:
    params = {
        "learning_rate": 0.05,
        "max_iter": 150,
        "max_leaf_nodes": 8,
        "min_samples_leaf": 200,
        "l2_regularization": 1.0,
        "categorical_features": "from_dtype",
        "early_stopping": False,
        "random_state": seed,
    }
    return HistGradientBoostingClassifier(**params) if binary else HistGradientBoostingRegressor(**params)


def check_arms(arms: pd.Series, control: str) -> pd.Series:
    """Rows per arm, once the control and at least one treated arm each have enough to model."""
    counts = arms.value_counts()
    if control not in counts:
        raise UserError(
            f"no row has the control arm {control!r}; arms in the data: {', '.join(counts.index)}"
        )
    if len(counts) < 2:
        raise UserError(f"every row is in the control arm {control!r}: there is nothing to compare")
    small = counts[counts < MIN_ROWS_PER_ARM]
    if len(small):
        raise UserError(
            f"arms with fewer than {MIN_ROWS_PER_ARM} rows cannot be modelled: "
            + ", ".join(f"{arm} ({n})" for arm, n in small.items()),
            hint="drop those arms or collect more data",
        )
    return counts


def check_events(arms: pd.Series, outcome: pd.Series, column: str) -> None:
    """A 1/0 outcome needs both values in every arm, and not a handful of one of them: with under
    MIN_EVENTS the arm's model is a constant and its held-out figures rest on one or two rows (the
    usual rule of thumb for a model of a binary outcome is 10 events)."""
    y = pd.to_numeric(outcome, errors="raise")
    if not y.isin((0, 1)).all():
        return  # an amount: nothing to count
    per_arm = y.groupby(arms.astype(str).to_numpy()).agg(["sum", "count"])
    short = [
        f"arm {arm!r} ({int(events)} of {int(n)} rows with {column} = {value})"
        for arm, (ones, n) in per_arm.iterrows()
        for value, events in ((1, ones), (0, n - ones))
        if events < MIN_EVENTS_PER_ARM
    ]
    if short:
        raise UserError(
            f"too few of each outcome to estimate uplift: every arm needs at least {MIN_EVENTS_PER_ARM} "
            f"rows with {column} = 1 and {MIN_EVENTS_PER_ARM} with {column} = 0; " + ", ".join(short),
            hint="collect more customers or a longer outcome window, or use a more frequent outcome "
            "(a visit rather than an order)",
        )


def _text(values: pd.Series) -> pd.Series:
    """A text feature's cells as strings, an empty cell as ''."""
    return values.astype(object).where(values.notna(), "").astype(str)


class UpliftModel:
    """`fit(features, arms, outcome)`, then `predict(features)`: one uplift column per treated arm."""

    def __init__(self, control: str, seed: int = 0) -> None:
        self.control = control
        self.seed = seed
        self.models: dict[str, HistGradientBoostingClassifier | HistGradientBoostingRegressor] = {}
        self.categories: dict[str, list[str]] = {}
        self.columns: list[str] = []
        self.binary = True

    @property
    def treatments(self) -> list[str]:
        return [arm for arm in self.models if arm != self.control]

    def encode(self, features: pd.DataFrame) -> pd.DataFrame:
        """Numbers stay numbers; text columns become categoricals with the training categories (an
        unseen value is treated as missing, which the trees handle)."""
        missing = [c for c in self.columns if c not in features.columns]
        if missing:
            raise UserError(f"feature columns missing from the file to score: {', '.join(missing)}")
        out = pd.DataFrame(index=features.index)
        for column in self.columns:
            if column in self.categories:
                out[column] = pd.Categorical(_text(features[column]), categories=self.categories[column])
            else:
                out[column] = pd.to_numeric(features[column], errors="coerce")
        return out

    def fit(self, features: pd.DataFrame, arms: pd.Series, outcome: pd.Series) -> UpliftModel:
        arms = arms.astype(str)
        counts = check_arms(arms, self.control)
        self.columns = list(features.columns)
        self.categories = {
            c: sorted(_text(features[c]).unique())
            for c in self.columns
            if not pd.api.types.is_numeric_dtype(features[c])
        }
        wide = {c: len(v) for c, v in self.categories.items() if len(v) > MAX_CATEGORIES}
        if wide:
            raise UserError(
                "text features with more distinct values than the trees can split on "
                f"({MAX_CATEGORIES}): " + ", ".join(f"{c} ({n})" for c, n in wide.items()),
                hint="an id or free text is no feature; use a coarser column (city, not address)",
            )
        x = self.encode(features)
        y = pd.to_numeric(outcome, errors="raise").to_numpy(dtype=float)
        self.binary = bool(np.isin(y, (0.0, 1.0)).all())
        for arm in [self.control, *sorted(a for a in counts.index if a != self.control)]:
            rows = (arms == arm).to_numpy()
            target = y[rows].astype(int) if self.binary else y[rows]
            if self.binary and len(np.unique(target)) < 2:
                raise UserError(f"arm {arm!r}: every row has the same outcome; nothing to learn")
            self.models[arm] = _trees(self.binary, self.seed).fit(x[rows], target)
        return self

    def expected(self, features: pd.DataFrame) -> pd.DataFrame:
        """The predicted outcome under every arm, one column per arm."""
        x = self.encode(features)
        return pd.DataFrame(
            {
                arm: m.predict_proba(x)[:, 1] if self.binary else m.predict(x)  # type: ignore[union-attr]
                for arm, m in self.models.items()
            },
            index=features.index,
        )

    def predict(self, features: pd.DataFrame) -> pd.DataFrame:
        """Uplift per treated arm: its expected outcome minus the control's."""
        expected = self.expected(features)
        return expected[self.treatments].sub(expected[self.control], axis=0)
