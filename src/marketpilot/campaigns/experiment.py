"""A campaign version as an experiment table: one row per assigned customer with its arm (a copy
variant or the holdout), whether it converted and its revenue, and the customer's features as they
stood before the send — the input `marketpilot decide uplift` learns whom to target from next time.

Features come from `analytics.customer_features` with the cutoff at the earlier of the assignment day
and the day after the store's last purchase (a shop replaying history), so no purchase made after
the send leaks into them.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
from sqlalchemy import select

from marketpilot.analytics.customer_features import customer_features
from marketpilot.analytics.purchases import registered_purchases
from marketpilot.campaigns.measure import customer_outcomes
from marketpilot.campaigns.service import get_spec
from marketpilot.campaigns.state.db import open_state, session_scope
from marketpilot.campaigns.state.models import Assignment
from marketpilot.config import Settings
from marketpilot.data.money import minor_digits
from marketpilot.data.store import Store
from marketpilot.errors import UserError

OUTCOME_COLUMNS = ("customer_id", "arm", "channel", "segment", "converted", "revenue")


def experiment_table(settings: Settings, campaign_id: str, version: int | None = None) -> pd.DataFrame:
    """OUTCOME_COLUMNS, `has_history` (1 when the customer bought before the cutoff), then the
    numeric customer features (`frame.attrs["features"]` lists them, `attrs["cutoff"]` the day)."""
    engine = open_state(settings)
    _, version = get_spec(engine, campaign_id, version)
    outcomes = customer_outcomes(engine, campaign_id, version)
    if outcomes.empty:
        raise UserError(
            f"campaign {campaign_id!r} v{version} has no assigned customers yet",
            hint=f"run it first: marketpilot campaign run {campaign_id}",
        )
    with session_scope(engine) as session:
        assigned = session.scalar(
            select(Assignment.assigned_at)
            .where(Assignment.campaign_id == campaign_id, Assignment.version == version)
            .order_by(Assignment.assigned_at)
            .limit(1)
        )
    with Store.open(settings, read_only=True) as store:
        last = registered_purchases(store.con)
        after_last = last + dt.timedelta(days=1)
        cutoff = min(assigned.date(), after_last) if assigned else after_last
        features = customer_features(store.con, cutoff, with_clv=False)
    table = outcomes.assign(
        converted=outcomes["converted"].astype(int),
        revenue=outcomes["revenue_minor"] / 10.0 ** minor_digits(settings.currency),
        channel=outcomes["channel"].fillna(""),
        segment=outcomes["segment"].fillna(""),
    )[list(OUTCOME_COLUMNS)]
    table = table.merge(features, left_on="customer_id", right_index=True, how="left")
    table.insert(len(OUTCOME_COLUMNS), "has_history", table[features.columns[0]].notna().astype(int))
    table[list(features.columns)] = table[list(features.columns)].fillna(0.0)
    table = table.sort_values("customer_id", kind="stable").reset_index(drop=True)
    table.attrs["features"] = ["has_history", *features.columns]
    table.attrs["cutoff"] = cutoff.isoformat()
    return table
