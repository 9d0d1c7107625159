"""Choosing the number of segments for `--k auto`, and saying why.

Silhouette alone picks badly on small shops: it cannot score one cluster, so it always names some
k ≥ 2, and it rewards cutting off a few outlying customers as a segment of their own. A segment gets
its own persona and campaign copy, so two more checks decide which k are candidates:

- size: every segment must hold at least `min_size` customers (a share of the shop, with an
  absolute floor); a k that leaves a smaller one is ruled out;
- structure: the silhouette must beat, by `STRUCTURE_MARGIN`, what k-means scores on structureless
  reference shops of the same shape: uniform in the data's principal axes with the same variance
  per axis (the gap statistic's reference, Tibshirani, Walther & Hastie 2001). A single blob of
  customers, Gaussian or uniform, scores within about 0.02 of it; real segments score 0.07 or more
  above it.

The highest silhouette among the k ≥ 3 that pass both wins (silhouette favours k = 2, the split into
one-time and repeat buyers, which campaigns already have from RFM); k = 2 only when no larger k
passes; when none passes, the shop is one segment (k = 1) and the choice says which check ruled
each k out.
"""

from __future__ import annotations

import math
from typing import Literal, TypeVar

import numpy as np
from pydantic import BaseModel
from sklearn.base import clone
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.metrics import silhouette_score

from marketpilot.wording import counted

STRUCTURE_MARGIN = 0.05
PREFERRED_MIN_K = 3
_REFERENCES = 5
_REFERENCE_SIZE = 1000

Rule = Literal["best_silhouette", "no_structure", "too_small"]
Estimator = TypeVar("Estimator", KMeans, MiniBatchKMeans)


class KCandidate(BaseModel):
    """One k tried on the sample: its silhouette, the structureless reference's, the smallest segment
    (in customers of the whole shop) and whether it could be chosen."""

    k: int
    silhouette: float
    reference_silhouette: float
    smallest_segment: int
    too_small: bool
    structured: bool


class FinalFit(BaseModel):
    """The chosen k fitted on every customer. k is chosen on a sample of `sample` customers, and the
    whole shop can hold a cluster the sample did not: `outliers` customers (members of clusters
    under the minimum size, ≤ 1% of the shop) were left out of the fit and joined the nearest
    segment, then `merged` segments still under the minimum joined the nearest remaining one; `k`
    segments are reported, the smallest holding `smallest_segment` customers."""

    sample: int
    k: int
    smallest_segment: int
    outliers: int
    merged: int


class KChoice(BaseModel):
    k: int  # chosen on the sample; `final.k` segments are reported
    rule: Rule
    min_segment_size: int
    min_segment_share: float
    min_segment_customers: int
    customers: int
    candidates: list[KCandidate]
    final: FinalFit | None = None  # None in summaries written before the final fit was checked

    def explain(self, lang: Literal["zh", "en"]) -> list[str]:
        """The decision (and what the fit on every customer changed) first, then one line per
        candidate k."""
        summary = ("" if lang == "zh" else " ").join([_summary(self, lang), *_final_note(self, lang)])
        return [summary] + [_line(c, self.min_segment_size, lang) for c in self.candidates]


def min_segment_size(customers: int, share: float, floor: int) -> int:
    return max(math.ceil(share * customers), floor)


def evaluate(
    sample: np.ndarray, ks: range, customers: int, min_size: int, random_state: int
) -> tuple[list[KCandidate], dict[int, KMeans]]:
    """Fit k-means for each k on the (scaled) sample; the fitted models come back for reuse (their
    `predict` gives the labels the sizes were checked on)."""
    references = _references(sample, random_state)
    floor = min_size * len(sample) / customers  # the minimum size in sample customers
    candidates, models = [], {}
    for k in ks:
        km, _ = fit_past_outliers(sample, KMeans(n_clusters=k, n_init=4, random_state=random_state), floor)
        labels = km.predict(sample)
        models[k] = km
        score = float(silhouette_score(sample, labels, random_state=random_state))
        null = float(np.mean([_reference_silhouette(r, k, random_state) for r in references]))
        # The sample's smallest share, in customers of the whole shop (the sample may be a subset).
        smallest = int(np.bincount(labels, minlength=k).min() * customers // len(sample))
        candidates.append(
            KCandidate(
                k=k,
                silhouette=round(score, 4),
                reference_silhouette=round(null, 4),
                smallest_segment=smallest,
                too_small=smallest < min_size,
                structured=score >= null + STRUCTURE_MARGIN,
            )
        )
    return candidates, models


def fit_past_outliers(data: np.ndarray, estimator: Estimator, floor: float) -> tuple[Estimator, int]:
    """k-means spends a centre on one extreme customer (on the whole UCI Online Retail shop, every
    k ≥ 3 had a one-customer cluster). Members of clusters below the minimum size are left out of
    the fit when they are rare (≤ 1% of customers) and join the nearest segment, unless the customers
    left have too few distinct profiles for k centres (a shop of identical customers and a few
    extreme ones): that k then keeps its small cluster, and the size check rules it out. Returns
    the fitted copy of `estimator` and how many customers were left out of its fit."""
    km = clone(estimator).fit(data)
    keep = np.ones(len(data), dtype=bool)
    for _ in range(3):
        labels = km.predict(data)
        counts = np.bincount(labels, minlength=km.n_clusters)
        outliers = keep & np.isin(labels, np.flatnonzero(counts < floor))
        if not outliers.any() or (~keep | outliers).sum() > 0.01 * len(data):
            break
        rest = keep & ~outliers
        # Fewer distinct profiles left than k: k-means would leave a centre empty (and say so in a
        # ConvergenceWarning on the user's terminal), so the small cluster stays, as documented.
        if len(np.unique(data[rest], axis=0)) < km.n_clusters:
            break
        refit = clone(estimator).fit(data[rest])
        # k-means puts duplicate centres on fewer distinct points than k: a cluster left empty
        if len(np.unique(refit.predict(data[rest]))) < refit.n_clusters:
            break
        km, keep = refit, rest
    return km, int((~keep).sum())


def choose(candidates: list[KCandidate]) -> tuple[int, Rule]:
    passing = [c for c in candidates if not c.too_small and c.structured]
    preferred = [c for c in passing if c.k >= PREFERRED_MIN_K] or passing
    if preferred:
        return max(preferred, key=lambda c: c.silhouette).k, "best_silhouette"
    # Name the check that failed for the k that were big enough (size first: it is the plainer reason).
    if any(not c.too_small for c in candidates):
        return 1, "no_structure"
    return 1, "too_small"


def _references(sample: np.ndarray, random_state: int) -> list[np.ndarray]:
    """Structureless shops of the sample's shape: uniform along its principal axes, same variance per
    axis. k-means and silhouette only see distances, so the rotation back is not needed."""
    centred = sample - sample.mean(axis=0)
    scores = centred @ np.linalg.svd(centred, full_matrices=False)[2].T
    sd = scores.std(axis=0)
    sd = sd[sd > 1e-9 * sd.max()]
    rng = np.random.default_rng(random_state)
    size = min(len(sample), _REFERENCE_SIZE)
    return [rng.uniform(-1.0, 1.0, (size, len(sd))) * math.sqrt(3.0) * sd for _ in range(_REFERENCES)]


def _reference_silhouette(reference: np.ndarray, k: int, random_state: int) -> float:
    km = KMeans(n_clusters=k, n_init=2, random_state=random_state).fit(reference)
    return float(silhouette_score(reference, km.labels_, random_state=random_state))


def _summary(choice: KChoice, lang: Literal["zh", "en"]) -> str:
    size, share, floor = choice.min_segment_size, choice.min_segment_share, choice.min_segment_customers
    ks = [c.k for c in choice.candidates]
    span = f"{min(ks)}–{max(ks)}" if ks else "–"
    if lang == "zh":
        rule = f"每个细分至少 {size} 位客户（客户数的 {share:.0%}，且不少于 {floor} 位）"
        if choice.rule == "best_silhouette":
            best = next(c for c in choice.candidates if c.k == choice.k)
            return (
                f"选择 k={choice.k}：在{rule}、且轮廓系数比无结构参照高出至少 {STRUCTURE_MARGIN} 的候选中，"
                f"它的轮廓系数最高（{best.silhouette:.3f}；k={PREFERRED_MIN_K} 起没有可选的候选时才用 k=2）。"
            )
        if choice.rule == "no_structure":
            return (
                f"只分 1 个细分（k=1）：k={span} 中满足{rule}的候选，轮廓系数都没有比同形状的无结构参照"
                f"高出 {STRUCTURE_MARGIN}，说明这些客户是一个整体，硬分出的细分只是任意切分。"
            )
        return f"只分 1 个细分（k=1）：k={span} 的每个候选都会产生少于 {size} 位客户的细分（{rule}）。"
    rule = f"every segment holds at least {size} customers ({share:.0%} of customers, at least {floor})"
    if choice.rule == "best_silhouette":
        best = next(c for c in choice.candidates if c.k == choice.k)
        return (
            f"k={choice.k}: the highest silhouette ({best.silhouette:.3f}) among the k where {rule} and the "
            f"silhouette beats a structureless reference shop by at least {STRUCTURE_MARGIN} (k=2 only "
            f"when no k from {PREFERRED_MIN_K} up is eligible)."
        )
    if choice.rule == "no_structure":
        return (
            f"One segment (k=1): for no k in {span} where {rule} does the silhouette beat a structureless "
            f"reference shop of the same shape by {STRUCTURE_MARGIN}; the customers form one group, and "
            "segments would be arbitrary cuts of it."
        )
    return f"One segment (k=1): every k in {span} leaves a segment of fewer than {size} customers ({rule})."


def _final_note(choice: KChoice, lang: Literal["zh", "en"]) -> list[str]:
    """What the fit on every customer changed, if anything: the candidates' sizes are the sample's."""
    final, size, n = choice.final, choice.min_segment_size, choice.customers
    if final is None or not (final.outliers or final.merged):
        return []
    notes = []
    if lang == "zh":
        where = f"在全部 {n} 位客户上" + (
            f"（k 是在 {final.sample} 位客户的样本上选的）" if final.sample < n else ""
        )
        if final.outliers:
            notes.append(
                f"{where}，{final.outliers} 位极端客户自成少于 {size} 位的细分："
                "拟合时不计他们，他们归入最近的细分。"
            )
        if final.merged:
            notes.append(
                f"{where}，有 {final.merged} 个细分少于 {size} 位客户："
                f"其客户并入最近的其余细分，最终为 {final.k} 个细分。"
            )
        return notes
    where = f"On all {n} customers" + (
        f" (k was chosen on a sample of {final.sample})" if final.sample < n else ""
    )
    if final.outliers:
        notes.append(
            f"{where}, {counted(final.outliers, 'extreme customer')} formed a segment under {size}: "
            "k-means was fitted without them and they joined the nearest segment."
        )
    if final.merged:
        notes.append(
            f"{where}, {counted(final.merged, 'segment')} held fewer than {size} customers: "
            f"{'its' if final.merged == 1 else 'their'} customers joined the nearest remaining segment, "
            + (f"so there are {final.k} segments." if final.k > 1 else "so the shop is one segment.")
        )
    return notes


def _line(c: KCandidate, size: int, lang: Literal["zh", "en"]) -> str:
    if lang == "zh":
        verdict = (
            f"排除：最小细分少于 {size} 位"
            if c.too_small
            else "排除：不比无结构参照更清晰"
            if not c.structured
            else "可选"
        )
        return (
            f"k={c.k}：轮廓系数 {c.silhouette:.3f}（无结构参照 {c.reference_silhouette:.3f}），"
            f"最小细分约 {c.smallest_segment} 位客户，{verdict}"
        )
    verdict = (
        f"ruled out: a segment under {size} customers"
        if c.too_small
        else "ruled out: no clearer than the structureless reference"
        if not c.structured
        else "eligible"
    )
    return (
        f"k={c.k}: silhouette {c.silhouette:.3f} (structureless reference {c.reference_silhouette:.3f}), "
        f"smallest segment ~{c.smallest_segment} customers, {verdict}"
    )
