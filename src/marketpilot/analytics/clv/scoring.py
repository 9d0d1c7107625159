"""Per-customer CLV outputs: P(alive), expected purchases, expected spend, discounted value."""

from __future__ import annotations

import numpy as np
import pandas as pd

from marketpilot.analytics.clv.bgnbd import BetaGeoModel
from marketpilot.analytics.clv.gamma_gamma import GammaGammaModel
from marketpilot.analytics.clv.transactions import UNIT_DAYS, TimeUnit


def discounted_clv(
    bgnbd: BetaGeoModel,
    gamma_gamma: GammaGammaModel,
    summary: pd.DataFrame,
    *,
    time_unit: TimeUnit,
    horizon_days: int = 365,
    period_days: int = 30,
    annual_discount_rate: float = 0.10,
) -> np.ndarray:
    """Σ over periods k of E[purchases in period k] · E[spend] / (1+d)^k, d the per-period rate.
    The loop runs over the (few) periods; each step is vectorised over customers."""
    x, tx, t_obs = (summary[c].to_numpy() for c in ("frequency", "recency", "T"))
    spend = expected_spend(gamma_gamma, summary)
    per_period = (1 + annual_discount_rate) ** (period_days / 365) - 1
    unit = UNIT_DAYS[time_unit]
    total = np.zeros(len(summary))
    before = np.zeros(len(summary))
    n_periods = int(np.ceil(horizon_days / period_days))
    for k in range(1, n_periods + 1):
        upto = min(k * period_days, horizon_days) / unit
        cumulative = bgnbd.conditional_expected_purchases(upto, x, tx, t_obs)
        total += (cumulative - before) / (1 + per_period) ** k
        before = cumulative
    return total * spend


def expected_spend(gamma_gamma: GammaGammaModel, summary: pd.DataFrame) -> np.ndarray:
    """Expected value per purchase; customers without repeat purchases get the population mean."""
    x = summary["monetary_frequency"].to_numpy()
    m = np.where(x > 0, summary["monetary_value"].to_numpy().clip(min=0), 0.0)
    return gamma_gamma.conditional_expected_average_profit(np.where(m > 0, x, 0), m)


def score_customers(
    bgnbd: BetaGeoModel,
    gamma_gamma: GammaGammaModel | None,
    summary: pd.DataFrame,
    *,
    time_unit: TimeUnit,
    horizon_days: int = 365,
    annual_discount_rate: float = 0.10,
) -> pd.DataFrame:
    """customer_id, p_alive, expected_purchases (over the horizon) and, with a spend model,
    expected_spend and clv (discounted, in the currency of the values)."""
    x, tx, t_obs = (summary[c].to_numpy() for c in ("frequency", "recency", "T"))
    out = pd.DataFrame({"customer_id": summary["customer_id"].to_numpy()})
    out["p_alive"] = bgnbd.p_alive(x, tx, t_obs)
    out["expected_purchases"] = bgnbd.conditional_expected_purchases(
        horizon_days / UNIT_DAYS[time_unit], x, tx, t_obs
    )
    if gamma_gamma is not None:
        out["expected_spend"] = expected_spend(gamma_gamma, summary)
        out["clv"] = discounted_clv(
            bgnbd,
            gamma_gamma,
            summary,
            time_unit=time_unit,
            horizon_days=horizon_days,
            annual_discount_rate=annual_discount_rate,
        )
    return out
