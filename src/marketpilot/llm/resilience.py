"""Retry timing and a circuit breaker, shared by every provider."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from marketpilot.llm.errors import LLMError, LLMTransientError, LLMUnavailableError


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter; a server's Retry-After wins when it gives one."""

    max_retries: int = 4
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0
    # A server asking us to wait longer than this is treated as down rather than blocking a batch.
    max_retry_after_s: float = 120.0

    def delay_s(self, attempt: int, error: LLMTransientError) -> float | None:
        """Seconds to wait before retry number `attempt` (0-based), or None to give up."""
        if attempt >= self.max_retries:
            return None
        if error.retry_after_s is not None:
            if error.retry_after_s > self.max_retry_after_s:
                return None
            # A little jitter so that the threads of one batch do not all come back at the same instant.
            return error.retry_after_s + random.uniform(0, 0.1 * max(error.retry_after_s, self.base_delay_s))
        return random.uniform(0, min(self.max_delay_s, self.base_delay_s * 2**attempt))


class CircuitBreaker:
    """After `failure_threshold` consecutive transient failures, calls fail fast for `reset_after_s`;
    then one trial call decides whether to close again. Stops a dead server from eating every retry
    of every request in a batch.

    Every call that `before_call` let through must end in `settle` (or one of the `record_*` /
    `release` it dispatches to) with `before_call`'s return value: otherwise a half-open trial would
    never finish and the circuit would stay open for good."""

    def __init__(
        self,
        failure_threshold: int = 8,
        reset_after_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.reset_after_s = reset_after_s
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False

    @property
    def state(self) -> str:
        with self._lock:
            if self._opened_at is None:
                return "closed"
            return "half_open" if self._clock() - self._opened_at >= self.reset_after_s else "open"

    def before_call(self, name: str) -> bool:
        """Raise LLMUnavailableError while open; True when this call is the half-open trial."""
        with self._lock:
            if self._opened_at is None:
                return False
            waited = self._clock() - self._opened_at
            if waited >= self.reset_after_s and not self._trial_running:
                self._trial_running = True
                return True
            raise LLMUnavailableError(
                f"Provider {name} is failing; not called for {max(0.0, self.reset_after_s - waited):.0f} s "
                f"more (circuit open after {self._failures} consecutive failures)"
            )

    def settle(self, trial: bool, error: BaseException | None = None) -> None:
        """End a call. The provider is alive whenever it answered: a reply, a throttle, or an error it
        reported (4xx, malformed body, context overflow). Only other transient errors count as failures;
        anything else (a bug, an interrupt) says nothing about the provider."""
        if isinstance(error, LLMTransientError) and not is_throttle(error):
            self.record_failure(trial)
        elif error is None or isinstance(error, LLMError):
            self.record_success()
        else:
            self.release(trial)

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._trial_running = False

    def record_failure(self, trial: bool = False) -> None:
        with self._lock:
            self._failures += 1
            # A call that started before the circuit closed again is not the current trial.
            failed_trial = trial and self._trial_running
            if failed_trial or self._failures >= self.failure_threshold:
                self._opened_at = self._clock()
            if failed_trial:
                self._trial_running = False

    def release(self, trial: bool) -> None:
        """The call ended without telling whether the provider works: let the next caller try."""
        if trial:
            with self._lock:
                self._trial_running = False


def is_throttle(error: LLMTransientError) -> bool:
    """A 429, or any answer naming a Retry-After: the server is up and asks us to wait, which must not
    open the circuit (a rate-limited batch would otherwise fail as if the server were down)."""
    return error.status == 429 or error.retry_after_s is not None
