"""Shared machinery of the CLV models: input checks and log-parameterised maximum likelihood.

Every parameter of BG/NBD and Gamma-Gamma is positive, so the optimiser works on log-parameters
(unconstrained) and each model supplies an analytic log-likelihood with its gradient: L-BFGS-B then
needs one vectorised evaluation per step instead of one per parameter per step.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.optimize import minimize
from sklearn.base import BaseEstimator
from threadpoolctl import threadpool_limits

from marketpilot.errors import NotFittedError, UserError

# (log-likelihood sum, gradient w.r.t. the natural parameters) for given natural parameters.
LogLikGrad = Callable[[np.ndarray], tuple[float, np.ndarray]]

# How far (in log units) a parameter may move from its data-based start: e^20 ≈ 5·10⁸ times. A
# likelihood that keeps rising towards a limit sent L-BFGS-B's trial steps to exp(10⁷) and the fit
# ended on NaN ("ABNORMAL"); in this box it stops at the bound and is reported as such.
LOG_BOUND = 20.0
# Shape parameters (dimensionless) outside this range describe a limit, not an estimate: above 10⁴ a
# Gamma's or Beta's spread is under 1% of its mean (customers look alike), below 10⁻³ it piles up at 0.
SHAPE_RANGE = (1e-3, 1e4)


def as_array(name: str, values: object, *, allow_zero: bool = True) -> np.ndarray:
    """A float64 1-D array with a clear error on bad input (negative counts, NaN, wrong shape)."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise UserError(f"{name} must be one-dimensional, got shape {arr.shape}.")
    bad = ~np.isfinite(arr) | (arr < 0 if allow_zero else arr <= 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        rule = "finite and >= 0" if allow_zero else "finite and > 0"
        raise UserError(f"{name} must be {rule}; row {i} has {arr[i]!r} ({int(bad.sum())} bad rows).")
    return arr


class CLVModel(BaseEstimator):
    """Base: fit by maximum likelihood over log-parameters; learned parameters end in `_`."""

    param_names: tuple[str, ...] = ()
    # The dimensionless parameters, checked against SHAPE_RANGE; the others are scales (time, money).
    shape_names: tuple[str, ...] = ()

    def __init__(self, max_iter: int = 1000, tol: float = 1e-10) -> None:
        self.max_iter = max_iter
        self.tol = tol

    def _maximise(self, loglik_grad: LogLikGrad, start: np.ndarray, n: float) -> None:
        """Maximise the summed log-likelihood from `start` (natural parameters); set `<name>_`."""

        def objective(log_params: np.ndarray) -> tuple[float, np.ndarray]:
            # A trial step far out (a, b in the millions on a small shop) can lose all precision; the end
            # point is checked below, so numpy's warnings about a trial would only be noise.
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                params = np.exp(log_params)
                ll, grad = loglik_grad(params)
                # Scale by n so the tolerance means the same thing for 2k and 2M customers.
                return -ll / n, -(grad * params) / n

        log_start = np.log(start)
        options = {"maxiter": self.max_iter, "ftol": self.tol, "gtol": 1e-8}
        # Single-threaded BLAS: the vectors are short enough that OpenBLAS threads only spin-wait for
        # each other, which on a busy 2-core machine made every evaluation 100x slower.
        with threadpool_limits(limits=1):
            result = minimize(objective, log_start, jac=True, method="L-BFGS-B", options=options)
            if not (np.isfinite(result.fun) and np.all(np.abs(result.x - log_start) < LOG_BOUND)):
                # Only a fit that ran off is refitted in the box: a well-posed one keeps its exact path.
                bounds = list(zip(log_start - LOG_BOUND, log_start + LOG_BOUND, strict=True))
                result = minimize(
                    objective, log_start, jac=True, method="L-BFGS-B", bounds=bounds, options=options
                )
        if not np.all(np.isfinite(result.x)) or not np.isfinite(result.fun):
            raise UserError(
                f"{type(self).__name__} did not converge: {result.message}",
                hint="The log-likelihood was not finite at the optimiser's last point; "
                "a time unit far too small for the data can cause this.",
            )
        for name, value in zip(self.param_names, np.exp(result.x), strict=True):
            setattr(self, f"{name}_", float(value))
        at_bound = np.abs(result.x - log_start) >= LOG_BOUND - 1e-6
        low, high = SHAPE_RANGE
        self.boundary_params_ = {
            name: float(value)
            for name, value, bound in zip(self.param_names, np.exp(result.x), at_bound, strict=True)
            if bound or (name in self.shape_names and not low <= value <= high)
        }
        self.loglik_ = float(-result.fun * n)
        self.converged_ = bool(result.success)
        self.n_iter_ = int(result.nit)

    def _params(self) -> tuple[float, ...]:
        if not hasattr(self, "loglik_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted yet; call fit() first.")
        return tuple(getattr(self, f"{name}_") for name in self.param_names)

    @property
    def params_(self) -> dict[str, float]:
        return dict(zip(self.param_names, self._params(), strict=True))
