"""Segments under the minimum size, when `--k auto` did not choose k.

`--k auto` never reports a segment under max(min_segment_share × customers, min_segment_customers).
A fixed `--k` is the user's explicit choice and HDBSCAN picks its own number, so their segments are
kept as fitted; one under the minimum is named instead, with its size. It gets no LLM persona (a
handful of customers described as a market segment misleads, and each persona is a model call): its
description is its statistics and a statement that it is too small to describe reliably
(`personas.small_segment_persona`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel

from marketpilot.analytics.segments.k_choice import min_segment_size
from marketpilot.analytics.segments.stats import SegmentStats
from marketpilot.wording import counted


class SmallSegments(BaseModel):
    """The segments holding fewer than `min_segment_size` customers: segment number → customers."""

    min_segment_size: int
    min_segment_share: float
    min_segment_customers: int
    k: int
    method: Literal["kmeans", "hdbscan"]
    sizes: dict[int, int]

    def explain(self, lang: Literal["zh", "en"]) -> str:
        size, share, floor = (
            self.min_segment_size,
            _percent(self.min_segment_share),
            self.min_segment_customers,
        )
        n = len(self.sizes)
        if lang == "zh":
            listed = "、".join(f"细分 {s}（{c} 位客户）" for s, c in self.sizes.items())
            kept, fix = (
                (f"按要求保留 k={self.k}", f"可改用更小的 --k，或用 --k auto（每个细分至少 {size} 位客户）。")
                if self.method == "kmeans"
                else (
                    f"HDBSCAN 找到的 {self.k} 个细分均已保留",
                    f"改用 --method kmeans 和 --k auto 可让每个细分至少有 {size} 位客户。",
                )
            )
            return (
                f"有 {n} 个细分少于最小规模 {size} 位客户（客户数的 {share}，且不少于 {floor} 位）："
                f"{listed}。{kept}；这么小的细分只是几位客户，算不上一个市场人群，不请模型写画像，"
                "只列出这几位客户的统计。"
                f"{fix}"
            )
        listed = ", ".join(f"segment {s} ({counted(c, 'customer')})" for s, c in self.sizes.items())
        kept, fix = (
            (
                f"k={self.k} is kept as asked",
                f"Try a smaller --k, or --k auto, which holds every segment to at least {size} customers.",
            )
            if self.method == "kmeans"
            else (
                f"The {self.k} segments HDBSCAN found are kept",
                f"--method kmeans with --k auto holds every segment to at least {size} customers.",
            )
        )
        few = (
            "a segment this small is a few customers rather than a market: it gets no LLM persona, only "
            "its statistics."
            if n == 1
            else "segments this small are a few customers rather than a market: they get no LLM persona, "
            "only their statistics."
        )
        return (
            f"{counted(n, 'segment')} {'holds' if n == 1 else 'hold'} fewer than {size} customers, the "
            f"minimum size ({share} of customers, at least {floor}): {listed}. {kept}; {few} {fix}"
        )


def small_segments(
    stats: Sequence[SegmentStats],
    *,
    method: Literal["kmeans", "hdbscan"],
    share: float,
    floor: int,
) -> SmallSegments | None:
    """None when every segment reaches the minimum, or when the shop is one segment (a segment that
    is the whole shop is no small part of it)."""
    customers = sum(s.customers for s in stats)
    size = min_segment_size(customers, share, floor)
    small = {s.segment: s.customers for s in stats if s.customers < size}
    if len(stats) < 2 or not small:
        return None
    return SmallSegments(
        min_segment_size=size,
        min_segment_share=share,
        min_segment_customers=floor,
        k=len(stats),
        method=method,
        sizes=dict(sorted(small.items())),
    )


def _percent(share: float) -> str:
    """5%, 2.5%: the share as given (`:.0%` would show 0.025 as 3%)."""
    return f"{share * 100:.4g}%"
