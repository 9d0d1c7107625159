"""Experiment for the next step of the sentiment bar: a calibrated P(pos) from the embedded LLM (the
first-token logits of "pos" and "neg" after the prompt and '{"label": "'), alone and averaged with an
e5-small + LR head fitted on the protocol's training rows only. Not a library path yet: it reads the
llama.cpp context's logits directly.

    .venv/bin/python bench/reviews_llm_logit.py [--protocol unseen_source] [--rows 200]
"""

from __future__ import annotations

import tempfile
import time

import numpy as np
from sklearn.linear_model import LogisticRegression

from marketpilot.analytics.reviews.sentiment import embed_for_sentiment
from marketpilot.config import get_settings
from marketpilot.llm import load_prompt
from marketpilot.llm.providers.llamacpp import LlamaCppProvider
from marketpilot.privacy.pii import mask_pii
from reviews_llm_band import protocol_sample  # bench/ is on sys.path when run as a script


def llm_logits(texts: list[str]) -> np.ndarray:
    """logit(pos) − logit(neg) of the first label token, per text (Qwen's ChatML template)."""
    llama, lock = LlamaCppProvider(get_settings(tempfile.mkdtemp(), llm_provider="llamacpp"))._llama()
    prompt = load_prompt("review_sentiment", "zh")
    pos, neg = (llama.tokenize(word, add_bos=False, special=False)[0] for word in (b"pos", b"neg"))
    margins = []
    with lock:
        for text in texts:
            turns = "".join(
                f"<|im_start|>{m.role}\n{m.content}<|im_end|>\n"
                for m in prompt.render(text=mask_pii(text)[:300])
            )
            tokens = llama.tokenize(
                (turns + '<|im_start|>assistant\n{"label": "').encode(), add_bos=False, special=True
            )
            llama.reset()
            llama.eval(tokens)
            logits = np.ctypeslib.as_array(llama._ctx.get_logits(), shape=(llama.n_vocab(),))
            margins.append(float(logits[pos] - logits[neg]))
    return np.array(margins)


def main() -> None:
    protocol, train, texts, gold = protocol_sample(__doc__.splitlines()[0])

    started = time.perf_counter()
    margin = llm_logits(texts)
    rate = len(texts) / (time.perf_counter() - started)
    fit_rows = train.sample(min(1000, len(train)), random_state=0)
    head = LogisticRegression(C=3.0, max_iter=3000, class_weight="balanced")
    head.fit(embed_for_sentiment(fit_rows.text.tolist()), fit_rows.label)
    p_e5 = head.predict_proba(embed_for_sentiment(texts))[:, 1]
    p_llm = 1.0 / (1.0 + np.exp(-margin))

    print(f"[{protocol}] {len(texts)} rows")
    print(f"LLM first-token margin: {np.mean((margin > 0) == gold):.4f} ({rate:.2f} reviews/s)")
    print(f"e5-small + LR (1,000 training rows): {np.mean((p_e5 > 0.5) == gold):.4f}")
    for weight in (0.5, 0.7):
        mixed = weight * p_llm + (1 - weight) * p_e5
        print(f"mean with LLM weight {weight}: {np.mean((mixed > 0.5) == gold):.4f}")


if __name__ == "__main__":
    main()
