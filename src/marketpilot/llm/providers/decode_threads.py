"""How many threads the embedded model decodes with, chosen from its own measured speed.

ggml's threads meet at a spinning barrier after every op, so the best decode thread count depends on
how busy the machine is, not on its core count: on 2 idle cores 2 threads decode 1.8x faster than 1;
at load 10 the same 2 threads are 10x slower, because one descheduled thread stalls the other. The
tuner keeps the milliseconds per decoded token of each candidate count (llama.cpp's own decode timer),
uses the fastest, and re-measures the others now and then: every few calls at first, then at doubling
intervals while they stay slower, so a wrong guess costs little and a change in load is still noticed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

FIRST_RECHECK = 4  # calls on the fastest count before another one is measured again
LAST_RECHECK = 128  # the interval stops doubling here: ~1 slow call in 128 on a steadily busy machine
MIN_TOKENS = 4  # a shorter decode is mostly timer noise and is not recorded
SMOOTHING = 0.5  # weight of the newest measurement in a count's running estimate


def candidate_counts(cores: int) -> list[int]:
    """Half the cores (llama.cpp's default) first, then one thread, then all of them."""
    counts = [max(1, cores // 2), 1, cores]
    return list(dict.fromkeys(counts))


@dataclass
class DecodeThreadTuner:
    counts: Sequence[int]
    ms_per_token: dict[int, float] = field(default_factory=dict)
    _last_measured: dict[int, int] = field(default_factory=dict)
    _calls: int = 0
    _recheck_after: int = FIRST_RECHECK
    _since_recheck: int = 0

    def fastest(self) -> int | None:
        if not self.ms_per_token:
            return None
        return min(self.ms_per_token, key=self.ms_per_token.__getitem__)

    def choose(self) -> int:
        """The count to decode the next call with."""
        untried = [n for n in self.counts if n not in self.ms_per_token]
        if untried:
            return untried[0]
        best = self.fastest()
        assert best is not None
        if self._since_recheck >= self._recheck_after and len(self.counts) > 1:
            others = [n for n in self.counts if n != best]
            return min(others, key=lambda n: self._last_measured[n])  # the stalest estimate
        return best

    def record(self, count: int, tokens: int, decode_ms: float) -> None:
        """One call's decode: `tokens` single-token evaluations that took `decode_ms` in all."""
        self._calls += 1
        if tokens < MIN_TOKENS or decode_ms <= 0:
            return
        best_before = self.fastest()
        speed = decode_ms / tokens
        self._last_measured[count] = self._calls
        if best_before is None or count == best_before:
            previous = self.ms_per_token.get(count, speed)
            self.ms_per_token[count] = SMOOTHING * speed + (1 - SMOOTHING) * previous
            self._since_recheck += 1
            return
        # A re-check of a slower count replaces its stale estimate; if it is still slower, the next
        # re-check waits twice as long.
        self.ms_per_token[count] = speed
        self._since_recheck = 0
        if self.fastest() == count:
            self._recheck_after = FIRST_RECHECK
        else:
            self._recheck_after = min(2 * self._recheck_after, LAST_RECHECK)
