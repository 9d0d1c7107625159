"""Retry timing and a circuit breaker, shared by every provider."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from marketpilot.llm.errors import LLMTransientError, LLMUnavailableError


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
    of every request in a batch."""

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

    def before_call(self, name: str) -> None:
        with self._lock:
            if self._opened_at is None:
                return
            waited = self._clock() - self._opened_at
            if waited >= self.reset_after_s and not self._trial_running:
                self._trial_running = True
                return
            raise LLMUnavailableError(
                f"Provider {name} is failing; not called for {max(0.0, self.reset_after_s - waited):.0f} s "
                f"more (circuit open after {self._failures} consecutive failures)"
            )

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._trial_running = False

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._trial_running or self._failures >= self.failure_threshold:
                self._opened_at = self._clock()
            self._trial_running = False
