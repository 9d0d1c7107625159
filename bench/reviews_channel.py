"""Noisy-channel scoring, tried and not adopted (docs/review-insight.md, "The LLM as a channel model"):
instead of asking the embedded model for a label, score the review's own tokens after a positive and
after a negative framing, log P(review | 好评) − log P(review | 差评) (Min et al. 2022, "Noisy Channel
Language Model Prompting"), and compare it with the shipped label log-odds (`llm_pass`) on the same
rows: the first --rows of the protocol's test permutation (`random_state=0`, sample B).

    .venv/bin/python bench/reviews_channel.py [--protocol unseen_source] [--rows 200]

Prints AUC and accuracy (at 0, and at the threshold that calls the gold share positive) of each.
About 1 s a review per framing on an idle 2-core machine, 2 s for the label log-odds.
"""

from __future__ import annotations

import argparse
import tempfile

import numpy as np
from scipy.special import logsumexp
from sklearn.metrics import roc_auc_score

from marketpilot.analytics.reviews import corpora
from marketpilot.analytics.reviews.llm_pass import llm_label_logits
from marketpilot.config import get_settings
from marketpilot.llm.model_files import ensure_model
from marketpilot.llm.providers.llamacpp import _new_llama
from marketpilot.privacy.pii import mask_pii

FRAMING = ("以下是一条顾客给出的好评：\n", "以下是一条顾客给出的差评：\n")


def token_logprobs(llama, prefix: str, texts: list[str]) -> list[np.ndarray]:  # type: ignore[no-untyped-def]
    """log P(each token of each text | prefix), the prefix evaluated once and kept in the KV cache."""
    head = llama.tokenize(prefix.encode(), add_bos=False, special=True)
    llama.reset()
    llama.eval(head)
    out = []
    for text in texts:
        tokens = llama.tokenize(text.encode(), add_bos=False, special=False)
        llama.n_tokens = len(head)  # drop the previous text, keep the prefix
        llama.eval(tokens)
        logits = np.asarray(llama.scores[len(head) - 1 : len(head) - 1 + len(tokens)], dtype=np.float64)
        out.append(logits[np.arange(len(tokens)), tokens] - logsumexp(logits, axis=1))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocol", default="unseen_source", choices=corpora.PROTOCOLS)
    parser.add_argument("--rows", type=int, default=200)
    args = parser.parse_args()
    _, _, test = corpora.protocol_split(corpora.load("zh"), "zh", args.protocol)
    sample = test.sample(frac=1.0, random_state=0).iloc[: args.rows]
    texts, gold = [mask_pii(t)[:300] for t in sample.text], sample.label.to_numpy()
    settings = get_settings(tempfile.mkdtemp(), llm_provider="llamacpp")
    # logits_all: every position's logits, not only the last one's
    llama = _new_llama(ensure_model(settings).path, 1024, 2, 2, logits_all=True)
    positive, negative = (token_logprobs(llama, prefix, texts) for prefix in FRAMING)
    llama.close()
    direct = llm_label_logits(texts, ["zh"] * len(texts), settings).mean(axis=1)
    pairs = list(zip(positive, negative, strict=True))
    scores = {
        "label log-odds (shipped, 2 askings)": direct,
        "channel, summed over tokens": np.array([p.sum() - n.sum() for p, n in pairs]),
        "channel, mean per token": np.array([(p - n).mean() for p, n in pairs]),
    }
    channel = scores["channel, mean per token"]
    scores["label log-odds + channel mean (each / its std)"] = direct / direct.std() + channel / channel.std()
    print(f"[{args.protocol}] {len(texts)} rows, {gold.mean():.0%} positive")
    for name, s in scores.items():
        at_share = np.mean((s >= np.quantile(s, 1 - gold.mean())) == gold)
        print(
            f"{name:48s} AUC {roc_auc_score(gold, s):.3f}  accuracy {np.mean((s >= 0) == gold):.3f}"
            f"  at the gold share {at_share:.3f}"
        )


if __name__ == "__main__":
    main()
