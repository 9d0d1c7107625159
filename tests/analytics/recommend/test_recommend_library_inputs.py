"""The recommendation functions called from Python the way a notebook does: the CLI's defaults apply,
and a bad argument is a UserError rather than a traceback from inside the ranking."""

from __future__ import annotations

import pandas as pd
import pytest

from marketpilot.analytics.recommend import (
    evaluate,
    recommend_for_all,
    recommendations_for,
    similar_products,
)
from marketpilot.config import Settings
from marketpilot.errors import UserError


def _interactions() -> pd.DataFrame:
    """Eight customers who each view products 1 and 2 and, later, product 3 or 4."""
    rows = []
    for c in range(8):
        day = pd.Timestamp("2025-01-01") + pd.Timedelta(days=c)
        rows += [(f"C{c}", "P1", day), (f"C{c}", "P2", day + pd.Timedelta(hours=1))]
        rows += [(f"C{c}", "P3" if c % 2 else "P4", day + pd.Timedelta(days=30))]
    return pd.DataFrame(rows, columns=["customer_id", "product_id", "occurred_at"])


def test_evaluate_without_a_window_tests_on_the_last_fifth() -> None:
    # Was refused with "Give exactly one of --test-days or --test-fraction": the CLI's default only.
    report = evaluate(_interactions(), k=2, models=["popularity"], tune_params=False)
    explicit = evaluate(_interactions(), k=2, models=["popularity"], tune_params=False, test_fraction=0.2)
    assert report.split == explicit.split


def test_evaluate_names_an_empty_frame() -> None:
    empty = pd.DataFrame(columns=["customer_id", "product_id", "occurred_at"])
    with pytest.raises(UserError, match="no rows"):
        evaluate(empty)


def test_an_event_type_left_out_of_the_weights_is_named() -> None:
    """docs/python-api.md maps event types to weights; a type the mapping leaves out was reported as
    "row 2: column 'weight' must be > 0, got nan"."""
    events = _interactions().assign(event_type=["view", "fav", "cart"] * 8)
    weights = events["event_type"].map({"view": 1.0, "cart": 3.0, "purchase": 5.0})
    with pytest.raises(UserError) as caught:
        evaluate(events.assign(weight=weights), k=2, models=["popularity"], tune_params=False)
    message = str(caught.value)
    assert "event type 'fav' has no weight (8 rows)" in message and "nan" not in message
    assert "'fav': 1.0" in message and "--event-weights" in message


@pytest.mark.parametrize("k", [0, -3, 2.5])
def test_list_lengths_below_one_are_refused(settings: Settings, k: object) -> None:
    for call in (
        lambda: recommend_for_all(settings, k),  # type: ignore[arg-type]
        lambda: recommendations_for(settings, "C1", k),  # type: ignore[arg-type]
        lambda: similar_products(settings, "P1", k),  # type: ignore[arg-type]
    ):
        with pytest.raises(UserError, match="k must be"):
            call()
