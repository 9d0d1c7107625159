"""Offline evaluation: every recommender side by side on a leakage-free time split.

Models are tuned on an inner split of the training window (tuning.py), refitted on the whole
training window and scored on the test window. Customers without training history are left out of
the metrics (every model would answer them with the same cold-start ranking); their number is
reported with the split.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
from pydantic import BaseModel

from marketpilot.analytics.recommend.base import RECOMMENDERS, Recommender, get_recommender
from marketpilot.analytics.recommend.holdout import Holdout, target_rows
from marketpilot.analytics.recommend.hybrid import DEFAULT_COMPONENTS, HybridRecommender
from marketpilot.analytics.recommend.interactions import ITEM, TIME, USER, validate_interactions
from marketpilot.analytics.recommend.split import time_split
from marketpilot.analytics.recommend.tuning import OBJECTIVE, choose_weights, inner_holdout, tune
from marketpilot.errors import UserError

DEFAULT_MODELS = ("popularity", "repeat", "itemknn", "userknn", "als", "bpr", "hybrid")


class SplitInfo(BaseModel):
    cutoff: str
    train_rows: int
    test_rows: int
    test_customers: int
    evaluated_customers: int
    cold_customers: int


# Below this many evaluated customers the metrics are stated as anecdotal: one hit more or less moves
# Recall@K by several points.
FEW_CUSTOMERS = 30


class EvaluationReport(BaseModel):
    k: int
    models: dict[str, dict[str, Any]]
    best: str
    split: SplitInfo
    notes: list[str] = []  # limits of this evaluation the reader must know (small data, K too large)

    def as_json(self) -> dict[str, Any]:
        """The documented JSON shape: {"k", "models": {name: {metric: value, ...}}, "best"}."""
        return {"k": self.k, "models": self.models, "best": self.best}


def evaluate(
    interactions: pd.DataFrame,
    *,
    k: int = 20,
    test_days: float | None = None,
    test_fraction: float | None = None,
    exclude_seen: bool = False,
    models: Sequence[str] | None = None,
    items: pd.DataFrame | None = None,
    target_events: Sequence[str] | None = None,
    tune_params: bool = True,
    max_users: int | None = None,
    on_model: Callable[[str], None] | None = None,
) -> EvaluationReport:
    """Split by time, tune and fit each model on the training window, score on the test window.
    Without `test_days` or `test_fraction` the last 20 % of interactions are the test window (as in
    `marketpilot recommend evaluate`)."""
    if test_days is None and test_fraction is None:
        test_fraction = 0.2  # the CLI's default; without it a library call was refused with CLI flags
    frame = validate_interactions(interactions)
    if frame.empty:
        raise UserError("No interactions to evaluate: the frame has no rows.")
    names = list(models or DEFAULT_MODELS)
    unknown = [n for n in names if n not in RECOMMENDERS]
    if unknown:
        raise UserError(
            f"Unknown model(s): {', '.join(unknown)}.", hint=f"Available: {', '.join(RECOMMENDERS)}"
        )
    if "content" in names and items is None:
        raise UserError(
            "The content model needs product texts.", hint="Pass --text-col (or a products table)."
        )
    train, test = time_split(frame, test_days=test_days, test_fraction=test_fraction)
    outer = Holdout(
        train, target_rows(test, target_events), k=k, exclude_seen=exclude_seen, max_users=max_users
    )
    known = set(train[USER].astype(str))
    if not any(user in known for user in outer.test[USER].astype(str).unique()):
        raise UserError(
            "no customer of the test window has history in the training window: nothing to measure",
            hint="give more customers' history, or a longer window (--test-days, --test-fraction)",
        )
    inner = inner_holdout(
        train,
        k=k,
        exclude_seen=exclude_seen,
        valid_days=test_days,
        valid_fraction=test_fraction,
        target_events=target_events,
    )
    results: dict[str, dict[str, Any]] = {}
    tuned: dict[str, dict[str, Any]] = {}
    inner_models: dict[str, Recommender] = {}  # best candidates, fitted on the inner-train part
    evaluated = 0
    for name in sorted(names, key=lambda n: n == "hybrid"):  # the hybrid reuses tuned models
        if on_model:
            on_model(name)
        started = time.perf_counter()
        params: dict[str, Any] = {}
        if name == "hybrid":
            components = [*DEFAULT_COMPONENTS, *(["content"] if "content" in names else [])]
            for component in components:
                if component not in inner_models:
                    inner_models[component] = get_recommender(component, **tuned.get(component, {}))
                    inner_models[component].fit(inner.train, items)
            # Blend weights on the same inner split the components were tuned on.
            weights = choose_weights({c: inner_models[c] for c in components}, inner)
            model: Recommender = HybridRecommender(
                components=components, component_params=tuned, weights=weights, k=k, exclude_seen=exclude_seen
            )
        else:
            model = get_recommender(name)
            if tune_params and model.param_grid:
                params, inner_models[name], _ = tune(model, inner, items)
                model = model.clone(**params)
            tuned[name] = params
        model.fit(train, items)
        metrics = outer.evaluate(model)
        if isinstance(model, HybridRecommender):
            params = {"weights": {n: w for n, w in model.weights_.items() if w > 0}}
        evaluated = int(metrics.pop("users", 0))
        results[name] = {
            **{m: round(v, 6) for m, v in metrics.items()},
            "seconds": round(time.perf_counter() - started, 2),
            "params": params,
        }
    best = max(results, key=lambda n: (results[n].get(OBJECTIVE, 0.0), results[n].get("recall", 0.0)))
    test_customers = outer.n_test_customers
    split = SplitInfo(
        cutoff=str(test[TIME].min()),
        train_rows=len(train),
        test_rows=len(test),
        test_customers=test_customers,
        evaluated_customers=evaluated,
        cold_customers=int((~pd.Index(pd.unique(outer.test[USER])).isin(pd.unique(train[USER]))).sum()),
    )
    return EvaluationReport(k=k, models=results, best=best, split=split, notes=_notes(k, train, split))


def _notes(k: int, train: pd.DataFrame, split: SplitInfo) -> list[str]:
    """What the figures cannot say on this data, in words (a table of 1.000s looks like success)."""
    notes: list[str] = []
    n_items = int(train[ITEM].nunique())
    if k >= n_items:
        notes.append(
            f"K={k} is not below the {n_items} products of the training window: every list can hold "
            "all of them, so recall and hit rate only miss products new in the test window, and "
            f"precision is at most {min(n_items / k, 1.0):.3f}."
        )
    if split.evaluated_customers < FEW_CUSTOMERS:
        notes.append(
            f"Recall@{k} and the other metrics are means over {split.evaluated_customers} test "
            f"customer(s) with training history: too few to tell models apart."
        )
    return notes
