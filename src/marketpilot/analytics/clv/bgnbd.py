"""BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way").

Purchases while alive follow Poisson(λ), λ ~ Gamma(r, α); after each purchase the customer drops out
with probability p, p ~ Beta(a, b). Inputs per customer: x (repeat purchases), t_x (time of the last
purchase since the first) and T (time since the first purchase), in one time unit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import betaln, expit, gammaln, hyp1f1, hyp2f1, psi

from marketpilot.analytics.clv.base import CLVModel, as_array
from marketpilot.errors import UserError


def _compress(x: np.ndarray, tx: np.ndarray, T: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, ...]:
    """Identical (x, t_x, T) rows contribute identical likelihood terms: keep each once, weighted.
    With day or week units a million customers collapse to a fraction of the rows."""
    frame = pd.DataFrame({"x": x, "tx": tx, "T": T, "w": w})
    grouped = frame.groupby(["x", "tx", "T"], sort=False, observed=True)["w"].sum().reset_index()
    return tuple(grouped[c].to_numpy(np.float64) for c in ("x", "tx", "T", "w"))


class _Terms:
    """Per-row quantities that depend on the data only. Functions of x alone are evaluated on the
    few distinct x values and gathered, which makes one likelihood evaluation cheap."""

    def __init__(self, x: np.ndarray, tx: np.ndarray, T: np.ndarray, w: np.ndarray) -> None:
        self.x, self.tx, self.T, self.w = x, tx, T, w
        self.ux, self.ix = np.unique(x, return_inverse=True)
        self.uT, self.iT = np.unique(T, return_inverse=True)
        self.utx, self.itx = np.unique(tx, return_inverse=True)
        self.repeat = x > 0

    def loglik_grad(self, params: np.ndarray) -> tuple[float, np.ndarray]:
        r, alpha, a, b = params
        ux, ix, rep, w = self.ux, self.ix, self.repeat, self.w
        rx = r + self.x
        log_aT = np.log(alpha + self.uT)[self.iT]
        log_atx = np.log(alpha + self.utx)[self.itx]
        ln_a1 = (gammaln(r + ux) - gammaln(r))[ix] + r * np.log(alpha)
        ln_a2 = (betaln(a, b + ux) - betaln(a, b))[ix]
        l3 = -rx * log_aT
        # The second term exists only for repeat buyers (x > 0); b + x - 1 > 0 there.
        log_ratio = np.where(ux > 0, np.log(a) - np.log(np.maximum(b + ux - 1, 1e-300)), -np.inf)[ix]
        l4 = np.where(rep, log_ratio - rx * log_atx, -np.inf)
        lse = np.logaddexp(l3, l4)
        w3 = np.exp(l3 - lse)
        w4 = np.exp(l4 - lse)
        ll = float(w @ (ln_a1 + ln_a2 + lse))

        psi_ab = psi(a + b)
        d_r = (psi(r + ux) - psi(r))[ix] + np.log(alpha) - w3 * log_aT - w4 * log_atx
        d_alpha = r / alpha - rx * (w3 / (alpha + self.T) + w4 / (alpha + self.tx))
        d_a = (psi_ab - psi(a + b + ux))[ix] + w4 / a
        inv_bx1 = np.where(ux > 0, 1.0 / np.maximum(b + ux - 1, 1e-300), 0.0)[ix]
        d_b = (psi(b + ux) - psi(b) + psi_ab - psi(a + b + ux))[ix] - w4 * inv_bx1
        grad = np.array([w @ d_r, w @ d_alpha, w @ d_a, w @ d_b])
        return ll, grad


class BetaGeoModel(CLVModel):
    """BG/NBD fitted by maximum likelihood. Learned: r_, alpha_, a_, b_, loglik_."""

    param_names = ("r", "alpha", "a", "b")
    shape_names = ("r", "a", "b")

    def fit(
        self, frequency: object, recency: object, T: object, weights: object | None = None
    ) -> BetaGeoModel:
        x, tx, t_obs = _validated(frequency, recency, T)
        w = np.ones_like(x) if weights is None else as_array("weights", weights)
        if float(w @ (x > 0)) == 0:
            # Without a repeat purchase the dropout Beta never enters the likelihood (a, b stay where they
            # start) and the purchase rate's maximum is 0: there is nothing to estimate.
            raise UserError(
                f"BG/NBD needs customers who bought more than once; none of the {len(x)} customers did"
                " in the calibration period.",
                hint="Use a later calibration end (more history), or a store with repeat buyers.",
            )
        x, tx, t_obs, w = _compress(x, tx, t_obs, w)
        terms = _Terms(x, tx, t_obs, w)
        n = float(w.sum())
        # Start near the data: r/α is the mean purchase rate, a ≈ 1, b ≈ 3 (a mean drop-out p of 1/4).
        rate = max(float(w @ x) / max(float(w @ t_obs), 1e-9), 1e-6)
        self._maximise(terms.loglik_grad, np.array([1.0, 1.0 / rate, 1.0, 3.0]), n)
        self.n_customers_ = int(n)
        return self

    def log_likelihood(self, frequency: object, recency: object, T: object) -> np.ndarray:
        """Per-customer log-likelihood under the fitted parameters."""
        x, tx, t_obs = _validated(frequency, recency, T)
        r, alpha, a, b = self._params()
        ln_a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
        ln_a2 = betaln(a, b + x) - betaln(a, b)
        l3 = -(r + x) * np.log(alpha + t_obs)
        safe = np.maximum(b + x - 1, 1e-300)
        l4 = np.where(x > 0, np.log(a) - np.log(safe) - (r + x) * np.log(alpha + tx), -np.inf)
        return ln_a1 + ln_a2 + np.logaddexp(l3, l4)

    def _log_odds_dead(self, x: np.ndarray, tx: np.ndarray, t_obs: np.ndarray) -> np.ndarray:
        """log of a/(b+x-1) · ((α+T)/(α+t_x))^(r+x): P(alive) = 1 / (1 + exp(this)), −inf when x = 0."""
        r, alpha, a, b = self._params()
        safe = np.maximum(b + x - 1, 1e-300)
        odds = np.log(a) - np.log(safe) + (r + x) * (np.log(alpha + t_obs) - np.log(alpha + tx))
        return np.where(x > 0, odds, -np.inf)

    def p_alive(self, frequency: object, recency: object, T: object) -> np.ndarray:
        """Probability that each customer is still active at the end of observation."""
        x, tx, t_obs = _validated(frequency, recency, T)
        return expit(-self._log_odds_dead(x, tx, t_obs))

    def conditional_expected_purchases(
        self, t: float | np.ndarray, frequency: object, recency: object, T: object
    ) -> np.ndarray:
        """E[purchases in (T, T+t] | x, t_x, T].

        Written with Euler's transformation 2F1(A,B;C;z) = (1-z)^(C-A-B) 2F1(C-A, C-B; C; z): the
        textbook form multiplies a hyp2f1 that grows like (1-z)^-(r+x) by a factor that shrinks as fast,
        which overflows for frequent buyers; here both parameters of the hyp2f1 stay small."""
        x, tx, t_obs = _validated(frequency, recency, T)
        t = np.asarray(t, dtype=np.float64)
        if t.ndim == 0 and len(x) > 10_000:
            # The hyp2f1 term depends on (x, T) only: evaluate it once per distinct pair and gather.
            groups = pd.DataFrame({"x": x, "T": t_obs}).groupby(["x", "T"], sort=False)
            codes = groups.ngroup().to_numpy()
            keys = groups.size().index
            ux, uT = keys.get_level_values(0).to_numpy(), keys.get_level_values(1).to_numpy()
            numerator = self._numerator(t, ux, uT)[codes]
        else:
            numerator = self._numerator(t, x, t_obs)
        return numerator * expit(-self._log_odds_dead(x, tx, t_obs))

    def _numerator(self, t: np.ndarray, x: np.ndarray, t_obs: np.ndarray) -> np.ndarray:
        r, alpha, a, b = self._params()
        z = t / (alpha + t_obs + t)
        c = a + b + x - 1
        with np.errstate(invalid="ignore", over="ignore", under="ignore"):
            tail = np.power(1 - z, a - 1) * hyp2f1(a + b - 1 - r, a - 1, c, z)
        lost = ~np.isfinite(tail)
        if lost.any() and r > a + b:
            # r, α in the hundreds of thousands (buyers who all buy at one steady rate): the hyp2f1's
            # first parameter is huge and z tiny, and scipy returns NaN. The Gamma is a point there;
            # the textbook form (1 − z)^(r+x)·2F1(r+x, b+x; c; z) tends to e^(−y)·1F1(b+x; c; y),
            # y = (r+x)·z, which Kummer's transformation makes 1F1(a − 1; c; −y).
            limit = np.broadcast_to(hyp1f1(a - 1, c, -(r + x) * z), np.shape(tail))
            tail = np.where(lost, limit, tail)
        elif lost.any():
            # A fit with a, b in the millions (a small shop whose buyers all look alike) makes the power
            # underflow and the hyp2f1 overflow. Its Beta is a point there: every purchase ends the
            # customer with p = a / (a + b), and the tail tends to ((α+T) / (α+T+p·t))^(r+x).
            p = a / (a + b)
            limit = np.broadcast_to(((alpha + t_obs) / (alpha + t_obs + p * t)) ** (r + x), np.shape(tail))
            tail = np.where(lost, limit, tail)
        return c / (a - 1) * (1 - tail)

    def expected_purchases(self, t: float | np.ndarray) -> np.ndarray:
        """E[X(t)]: purchases a new customer makes in t time units after the first."""
        r, alpha, a, b = self._params()
        t = np.asarray(t, dtype=np.float64)
        return (
            (a + b - 1)
            / (a - 1)
            * (1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1, t / (alpha + t)))
        )


def _validated(frequency: object, recency: object, T: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = as_array("frequency", frequency)
    tx = as_array("recency", recency)
    t_obs = as_array("T", T)
    if not (len(x) == len(tx) == len(t_obs)):
        raise UserError(f"frequency, recency and T differ in length ({len(x)}, {len(tx)}, {len(t_obs)}).")
    if (tx > t_obs + 1e-9).any():
        i = int(np.flatnonzero(tx > t_obs + 1e-9)[0])
        raise UserError(f"recency must not exceed T; row {i} has recency {tx[i]} > T {t_obs[i]}.")
    if ((x == 0) & (tx > 0)).any():
        i = int(np.flatnonzero((x == 0) & (tx > 0))[0])
        raise UserError(f"row {i}: frequency 0 needs recency 0 (got {tx[i]}).")
    return x, tx, t_obs
