"""The decode thread tuner's policy, driven by a simulated machine whose speed per thread count changes
(the real model's use of it is in test_llm_local.py)."""

from __future__ import annotations

import itertools
from collections.abc import Callable

from marketpilot.llm.providers.decode_threads import (
    LAST_RECHECK,
    MIN_TOKENS,
    DecodeThreadTuner,
    candidate_counts,
)

TOKENS = 50


def run(tuner: DecodeThreadTuner, calls: int, ms_per_token: Callable[[int], float]) -> list[int]:
    """Each call decodes TOKENS tokens at the simulated speed of the count the tuner picked."""
    used = []
    for _ in range(calls):
        threads = tuner.choose()
        tuner.record(threads, TOKENS, TOKENS * ms_per_token(threads))
        used.append(threads)
    return used


def idle(threads: int) -> float:  # more threads, faster
    return 160 / threads


def busy(threads: int) -> float:  # more threads stall at the barrier
    return 400 * threads**3


def test_candidates_start_with_half_the_cores_and_include_one_and_all() -> None:
    assert candidate_counts(2) == [1, 2]
    assert candidate_counts(16) == [8, 1, 16]
    assert candidate_counts(1) == [1]


def test_each_count_is_measured_once_then_the_fastest_is_kept() -> None:
    used = run(DecodeThreadTuner(candidate_counts(2)), 12, idle)
    assert used[:2] == [1, 2]
    assert used[2:6] == [2, 2, 2, 2]  # the fastest until the first re-check is due
    assert used.count(2) >= 10


def test_a_steadily_slower_count_is_rechecked_less_and_less_often() -> None:
    tuner = DecodeThreadTuner(candidate_counts(2))
    used = run(tuner, 1000, busy)
    rechecks = [i for i, threads in enumerate(used) if threads == 2]
    gaps = [b - a for a, b in itertools.pairwise(rechecks)]
    assert gaps == sorted(gaps)  # the interval only grows while the count stays slower
    assert max(gaps) <= LAST_RECHECK + 1
    assert len(rechecks) <= 12  # about 1 % of the calls on the slow count, not a fixed share
    assert tuner.fastest() == 1


def test_a_change_of_load_moves_to_the_count_that_is_now_fastest() -> None:
    tuner = DecodeThreadTuner(candidate_counts(2))
    run(tuner, 50, idle)
    assert tuner.fastest() == 2
    after = run(tuner, 20, busy)
    # The busy machine made 2 threads slow: within 10 calls it decodes with 1 (and re-checks 2 once).
    assert after[-10:].count(1) >= 9
    run(tuner, 300, busy)
    back = run(tuner, LAST_RECHECK + 10, idle)
    assert back[-5:] == [2] * 5  # and a re-check noticed when the machine went idle again


def test_short_decodes_are_not_recorded() -> None:
    tuner = DecodeThreadTuner(candidate_counts(2))
    tuner.record(1, MIN_TOKENS - 1, 10.0)
    assert tuner.ms_per_token == {}
    assert tuner.choose() == 1
