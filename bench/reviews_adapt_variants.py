"""Variants of adapting to the batch that were tried and not adopted, measured against the shipped rule
(docs/review-insight.md, "Tried and not adopted"). The batch is the first --batch rows of the
protocol's test permutation (`random_state=0`, as in the adaptation figures); the n-gram model is
fitted on the protocol's training rows, the e5 head on 1,000 rows per training corpus.

    .venv/bin/python bench/reviews_adapt_variants.py [--protocol unseen_source] [--llm-rows 300] [--few-shot]

Variants: pooling the three probabilities by their mean log-odds instead of their mean; a fourth
member, the mean P of each review's 20 most similar batch reviews (e5 cosine); with --llm-rows, the
same in the llm mode's second pass (the embedded model asked about the first N rows where the adapted
accurate mode is unsure, the other rows keep that P); with --few-shot, the LLM asked again with eight
of the batch's most confident reviews as extra examples in its system prompt.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy.special import expit, logit
from sklearn.linear_model import LogisticRegression

from marketpilot.analytics.reviews import corpora
from marketpilot.analytics.reviews.adapt import batch_models
from marketpilot.analytics.reviews.llm_pass import ASKINGS, positive_from_logits
from marketpilot.analytics.reviews.sentiment import (
    E5_WEIGHT,
    NgramSentiment,
    embed_for_sentiment,
    llm_rows,
    load_model,
)
from marketpilot.config import get_settings
from marketpilot.llm import get_client, load_prompt
from marketpilot.llm.base import Message
from marketpilot.privacy.pii import mask_pii

NEIGHBOURS = 20
SHOTS_PER_CLASS = 4
Pool = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


POOLS: dict[str, Pool] = {
    "mean P (shipped)": lambda a, b, c: (a + b + c) / 3,
    "mean log-odds": lambda *ps: expit(np.mean([logit(np.clip(p, 1e-6, 1 - 1e-6)) for p in ps], axis=0)),
}


def neighbour_mean(x: np.ndarray, p: np.ndarray) -> np.ndarray:
    similarity = x @ x.T
    np.fill_diagonal(similarity, -np.inf)  # a review is not its own neighbour
    nearest = np.argpartition(-similarity, NEIGHBOURS, axis=1)[:, :NEIGHBOURS]
    return p[nearest].mean(axis=1)


def report(name: str, texts: list[str], x: np.ndarray, p_base: np.ndarray, gold: np.ndarray, n: int) -> None:
    def acc(p: np.ndarray) -> str:
        return f"{np.mean((p[:n] >= 0.5) == gold[:n]):.4f}"

    p_ngram, p_e5 = batch_models(texts, x, p_base, "zh")
    p_knn = neighbour_mean(x, p_base)
    figures = [f"before {acc(p_base)}"]
    figures += [f"{pool}: {acc(combine(p_base, p_ngram, p_e5))}" for pool, combine in POOLS.items()]
    figures.append(f"+ {NEIGHBOURS} neighbours as a 4th member: {acc((p_base + p_ngram + p_e5 + p_knn) / 4)}")
    print(f"{name} (first {n} rows): " + "; ".join(figures))


def few_shot(texts: list[str], x: np.ndarray, p: np.ndarray, pool: np.ndarray) -> list[tuple[str, bool]]:
    """The most confident short reviews of each class in `pool`, spread out by farthest-point picks."""
    lengths = np.array([len(t) for t in texts])
    shots: list[tuple[str, bool]] = []
    for positive in (True, False):
        members = pool[((p[pool] >= 0.5) == positive) & (lengths[pool] >= 8) & (lengths[pool] <= 60)]
        top = members[np.argsort(-np.abs(p[members] - 0.5), kind="stable")[:60]]
        picks = [int(top[0])]
        while len(picks) < SHOTS_PER_CLASS:
            picks.append(int(top[np.argmax(np.min(1 - x[top] @ x[picks].T, axis=1))]))
        shots += [(texts[i], positive) for i in picks]
    return shots


def llm_logits(texts: list[str], shots: list[tuple[str, bool]]) -> np.ndarray:
    """`llm_pass.llm_label_logits` for Chinese, with `shots` added to each asking's examples."""
    logits = np.empty((len(texts), len(ASKINGS["zh"])))
    with get_client(get_settings(tempfile.mkdtemp(), llm_provider="llamacpp")) as client:
        for k, asking in enumerate(ASKINGS["zh"]):
            prompt = load_prompt(asking.prompt, "zh")
            positive, negative = asking.labels
            extra = "".join(f"\n“{t}” → {positive if p else negative}" for t, p in shots)
            for i, text in enumerate(texts):
                system, *rest = prompt.render(text=mask_pii(text)[:300])
                if shots:
                    system = Message(role="system", content=f"{system.content}\n本批评价里的例子：{extra}")
                scores = client.label_logprobs([system, *rest], asking.prefix, asking.labels)
                logits[i, k] = scores[positive] - scores[negative]
    return logits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocol", default="unseen_source", choices=corpora.PROTOCOLS)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--llm-rows", type=int, default=0)
    parser.add_argument("--few-shot", action="store_true")
    args = parser.parse_args()
    train, _, test = corpora.protocol_split(corpora.load("zh"), "zh", args.protocol)
    batch = test.sample(frac=1.0, random_state=0).iloc[: args.batch]
    texts, gold = batch.text.tolist(), batch.label.to_numpy()
    shipped = load_model().models["zh"]
    ngram = NgramSentiment("zh", n_features=shipped.n_features, C=shipped.C).fit(train.text, train.label)
    fit_rows = pd.concat([g.sample(min(len(g), 1000), random_state=0) for _, g in train.groupby("source")])
    head = LogisticRegression(C=1.0, max_iter=3000, class_weight="balanced")
    head.fit(embed_for_sentiment(fit_rows.text.tolist()), fit_rows.label)
    x = embed_for_sentiment(texts)
    p_accurate = (1 - E5_WEIGHT) * ngram.predict_proba(texts)[:, 1] + E5_WEIGHT * head.predict_proba(x)[:, 1]
    print(f"[{args.protocol}] batch of {len(texts)}")
    report("accurate mode", texts, x, p_accurate, gold, len(texts))
    if not args.llm_rows:
        return
    n = args.llm_rows
    p_first = POOLS["mean P (shipped)"](p_accurate, *batch_models(texts, x, p_accurate, "zh"))
    unsure = llm_rows(p_first[:n])
    variants = {"zero-shot": []}
    if args.few_shot:  # examples from outside the scored rows, so none is scored with its own label
        variants["few-shot"] = few_shot(texts, x, p_first, np.arange(n, len(texts)))
    for variant, shots in variants.items():
        p_llm = positive_from_logits(llm_logits(texts[:n], shots))
        p_mode = p_first.copy()
        p_mode[unsure] = p_llm[unsure]
        print(f"{variant}: LLM alone {np.mean((p_llm >= 0.5) == gold[:n]):.4f}, {len(unsure)} of {n} asked")
        report(f"llm mode, {variant}", texts, x, p_mode, gold, n)


if __name__ == "__main__":
    main()
