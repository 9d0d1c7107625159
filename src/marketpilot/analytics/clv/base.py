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

    def __init__(self, max_iter: int = 1000, tol: float = 1e-10) -> None:
        self.max_iter = max_iter
        self.tol = tol

    def _maximise(self, loglik_grad: LogLikGrad, start: np.ndarray, n: float) -> None:
        """Maximise the summed log-likelihood from `start` (natural parameters); set `<name>_`."""

        def objective(log_params: np.ndarray) -> tuple[float, np.ndarray]:
            # A trial step far out (a, b in the millions on a small shop) overflows exp() and makes the
            # likelihood NaN; the line search backs off from it, and the end point is checked below,
            # so numpy's warnings about the trial would only be noise on the user's terminal.
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                params = np.exp(log_params)
                ll, grad = loglik_grad(params)
            # Scale by n so the tolerance means the same thing for 2k and 2M customers.
            return -ll / n, -(grad * params) / n

        # Single-threaded BLAS: the vectors are short enough that OpenBLAS threads only spin-wait for
        # each other, which on a busy 2-core machine made every evaluation 100x slower.
        with threadpool_limits(limits=1):
            result = minimize(
                objective,
                np.log(start),
                jac=True,
                method="L-BFGS-B",
                options={"maxiter": self.max_iter, "ftol": self.tol, "gtol": 1e-8},
            )
        if not np.all(np.isfinite(result.x)) or not np.isfinite(result.fun):
            raise UserError(
                f"{type(self).__name__} did not converge: {result.message}",
                hint="Very few repeat buyers, or a time unit far too small, can cause this.",
            )
        for name, value in zip(self.param_names, np.exp(result.x), strict=True):
            setattr(self, f"{name}_", float(value))
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
