"""Hyper-parameters and blend weights, chosen on an inner time split of the TRAINING window only.

The training window is split again the same way the outer evaluation split it (same test length in
days, or the same fraction); candidates are fitted on the inner-train part and compared on the
inner-validation part. The test window is never looked at.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import product
from typing import Any

import numpy as np
import pandas as pd

from marketpilot.analytics.recommend.base import Recommender, minmax_rows, row_block, top_k_rows
from marketpilot.analytics.recommend.holdout import Holdout, target_rows
from marketpilot.analytics.recommend.metrics import ranking_metrics
from marketpilot.analytics.recommend.split import time_split
from marketpilot.errors import UserError

OBJECTIVE = "ndcg"
# Blend weights tried for each component in coordinate ascent.
WEIGHT_STEPS = (0.0, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0)
# Validation customers are capped so that the dense score blocks of every component fit in memory.
_VALIDATION_CELLS = 1 << 25


def inner_holdout(
    train: pd.DataFrame,
    *,
    k: int,
    exclude_seen: bool,
    valid_days: float | None = None,
    valid_fraction: float | None = None,
    target_events: Sequence[str] | None = None,
    max_users: int | None = 5000,
) -> Holdout:
    """Split the training window like the outer split; fall back to a 20 % time split when the
    requested window would swallow the whole training window."""
    try:
        if valid_days is not None:
            fit, valid = time_split(train, test_days=valid_days)
        else:
            fit, valid = time_split(train, test_fraction=valid_fraction or 0.2)
    except UserError:
        fit, valid = time_split(train, test_fraction=0.2)
    return Holdout(
        fit, target_rows(valid, target_events), k=k, exclude_seen=exclude_seen, max_users=max_users
    )


def grid(param_grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    names = list(param_grid)
    return [dict(zip(names, values, strict=True)) for values in product(*(param_grid[n] for n in names))]


def tune(
    model: Recommender, holdout: Holdout, items: pd.DataFrame | None = None
) -> tuple[dict[str, Any], Recommender, list[dict[str, Any]]]:
    """Try each parameter combination of `model.param_grid`; returns the best parameters, the best
    candidate (fitted on the inner-train part) and every trial's score."""
    trials: list[dict[str, Any]] = []
    best: tuple[float, dict[str, Any], Recommender] | None = None
    for params in grid(model.param_grid) or [{}]:
        candidate = model.clone(**params).fit(holdout.train, items)
        score = holdout.evaluate(candidate).get(OBJECTIVE, 0.0)
        trials.append({**params, OBJECTIVE: score})
        if best is None or score > best[0]:
            best = (score, params, candidate)
    assert best is not None
    return best[1], best[2], trials


def choose_weights(models: Mapping[str, Recommender], holdout: Holdout) -> dict[str, float]:
    """Blend weights by coordinate ascent on validation NDCG@k. All models must be fitted on
    `holdout.train` (so they share customer and item codes)."""
    names = list(models)
    first = models[names[0]]
    users = holdout.customers(first)
    cap = max(1, _VALIDATION_CELLS // (len(first.item_index_) * len(names)))
    users = users[:cap] if len(users) > cap else users
    if not len(users):
        return {name: 1.0 / len(names) for name in names}
    truth, n_relevant = holdout.truth(first, users)
    share = holdout.item_share(first)
    blocks = {name: _normalised_scores(model, users) for name, model in models.items()}
    if holdout.exclude_seen:
        seen = first.seen_[users].tocoo()
        for block in blocks.values():
            block[seen.row, seen.col] = -np.inf

    def objective(weights: Mapping[str, float]) -> tuple[float, float]:
        total = sum(w * blocks[n] for n, w in weights.items() if w > 0)
        if isinstance(total, int):
            return (-1.0, -1.0)
        items, _ = top_k_rows(np.asarray(total, dtype=np.float32), holdout.k)
        metrics = ranking_metrics(items, truth, n_relevant, holdout.k, share)
        return (metrics[OBJECTIVE], metrics["recall"])

    singles = {name: objective({name: 1.0}) for name in names}
    weights = dict.fromkeys(names, 0.0)
    weights[max(singles, key=singles.__getitem__)] = 1.0
    best = objective(weights)
    for _ in range(2):
        improved = False
        for name in names:
            for step in WEIGHT_STEPS:
                trial = {**weights, name: step}
                if trial == weights:
                    continue
                score = objective(trial)
                if score > best:
                    best, weights, improved = score, trial, True
        if not improved:
            break
    return weights


def _normalised_scores(model: Recommender, users: np.ndarray) -> np.ndarray:
    out = np.empty((len(users), len(model.item_index_)), dtype=np.float32)
    step = row_block(len(model.item_index_))
    for start in range(0, len(users), step):
        out[start : start + step] = minmax_rows(
            np.asarray(model._score(users[start : start + step]), dtype=np.float32)
        )
    return out
