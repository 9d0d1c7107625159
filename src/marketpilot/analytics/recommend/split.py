"""Leakage-free splits. Time split: everything before the cut-off trains, everything after tests, so
no model ever sees the future. The random split exists only to reproduce published MovieLens figures,
which use it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from marketpilot.analytics.recommend.interactions import TIME
from marketpilot.errors import UserError


def time_cutoff(
    frame: pd.DataFrame, *, test_days: float | None = None, test_fraction: float | None = None
) -> pd.Timestamp:
    """The first instant of the test window: `test_days` before the last interaction, or the time
    quantile that leaves `test_fraction` of interactions after it."""
    if (test_days is None) == (test_fraction is None):
        raise UserError("Give exactly one of --test-days or --test-fraction.")
    times = frame[TIME]
    if test_days is not None:
        if test_days <= 0:
            raise UserError("--test-days must be positive.")
        return times.max() - pd.Timedelta(days=test_days)
    if not 0 < test_fraction < 1:  # type: ignore[operator]
        raise UserError("--test-fraction must be between 0 and 1.")
    return times.quantile(1.0 - test_fraction)  # type: ignore[operator]


def time_split(
    frame: pd.DataFrame, *, test_days: float | None = None, test_fraction: float | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    first, last = frame[TIME].min(), frame[TIME].max()
    if first == last:
        # Every cut-off leaves one window empty; the generic message advised a shorter test window.
        what = (
            "Only one interaction" if len(frame) == 1 else f"All {len(frame)} interactions have the same time"
        )
        raise UserError(
            f"{what} ({first}): a time split into training and test is impossible.",
            hint="use a time column that records when each interaction happened (date and time)",
        )
    cutoff = time_cutoff(frame, test_days=test_days, test_fraction=test_fraction)
    before = frame[TIME] < cutoff
    train, test = frame[before], frame[~before]
    if train.empty or test.empty:
        span = f"{frame[TIME].min()} .. {frame[TIME].max()}"
        empty = "training" if train.empty else "test"
        raise UserError(
            f"The split at {cutoff} leaves an empty {empty} window (data spans {span}).",
            hint="Choose a test window shorter than the data, e.g. --test-fraction 0.2.",
        )
    return train, test


def random_split(
    frame: pd.DataFrame, *, test_fraction: float, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each interaction goes to test with probability `test_fraction` (the MovieLens convention)."""
    rng = np.random.default_rng(seed)
    to_test = rng.random(len(frame)) < test_fraction
    return frame[~to_test], frame[to_test]
