"""Gamma-Gamma spend model (Fader, Hardie & Lee 2005, "RFM and CLV: using iso-value curves";
Colombo & Jiang 1999).

A customer's transaction values are Gamma(p, ν); ν varies across customers as Gamma(q, γ). Fitted on
customers with at least one repeat purchase: x repeat transactions with mean value m.
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln, psi

from marketpilot.analytics.clv.base import CLVModel, as_array
from marketpilot.errors import UserError


class GammaGammaModel(CLVModel):
    """Learned: p_, q_, v_ (γ), loglik_. Customers with frequency 0 are ignored in fit."""

    param_names = ("p", "q", "v")
    shape_names = ("p", "q")

    def fit(self, frequency: object, monetary_value: object) -> GammaGammaModel:
        x, m = _validated(frequency, monetary_value)
        keep = x > 0
        x, m = x[keep], m[keep]
        if len(x) < 3:
            raise UserError(
                f"Gamma-Gamma needs customers with repeat purchases; found {len(x)}.",
                hint="Use a longer calibration period or skip the spend model.",
            )
        if (m <= 0).any():
            raise UserError("monetary_value must be > 0 for every customer with repeat purchases.")
        ux, ix = np.unique(x, return_inverse=True)
        log_m, log_x = np.log(m), np.log(x)

        def loglik_grad(params: np.ndarray) -> tuple[float, np.ndarray]:
            p, q, v = params
            px = p * x
            log_xm_v = np.log(x * m + v)
            g_pxq = gammaln(p * ux + q)[ix]
            g_px = gammaln(p * ux)[ix]
            ll = (
                g_pxq
                - g_px
                - gammaln(q)
                + q * np.log(v)
                + (px - 1) * log_m
                + px * log_x
                - (px + q) * log_xm_v
            )
            psi_pxq = psi(p * ux + q)[ix]
            d_p = x * (psi_pxq - psi(p * ux)[ix] + log_m + log_x - log_xm_v)
            d_q = psi_pxq - psi(q) + np.log(v) - log_xm_v
            d_v = q / v - (px + q) / (x * m + v)
            return float(ll.sum()), np.array([d_p.sum(), d_q.sum(), d_v.sum()])

        # Start from the moments: E[m] = p·γ/(q−1); p = 2, q = 3 put γ at the mean spend.
        self._maximise(loglik_grad, np.array([2.0, 3.0, float(m.mean())]), float(len(x)))
        self.n_customers_ = len(x)
        return self

    def conditional_expected_average_profit(self, frequency: object, monetary_value: object) -> np.ndarray:
        """E[spend per transaction | x, m]: a weighted mean of the population mean and the customer's
        own mean; customers with x = 0 get the population mean p·γ/(q−1)."""
        p, q, v = self._params()
        x, m = _validated(frequency, monetary_value)
        return p * (v + x * m) / (p * x + q - 1)

    @property
    def population_mean_(self) -> float:
        p, q, v = self._params()
        return p * v / (q - 1) if q > 1 else float("inf")


def _validated(frequency: object, monetary_value: object) -> tuple[np.ndarray, np.ndarray]:
    x = as_array("frequency", frequency)
    m = as_array("monetary_value", monetary_value)
    if len(x) != len(m):
        raise UserError(f"frequency and monetary_value differ in length ({len(x)}, {len(m)}).")
    return x, m
