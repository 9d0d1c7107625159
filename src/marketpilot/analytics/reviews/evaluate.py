"""Every sentiment method side by side, on the same held-out data in the same run.

    python -m marketpilot.analytics.reviews.evaluate [--lang zh] [--embed-sample 400]

Columns: `cross_domain` = accuracy on the category/shop no training row comes from (zh: snownlp's
JD notebook-computer reviews; en: UCI amazon-cells phone sentences), every method trained by the
cross-domain protocol (corpora.cross_domain); `heldout` = accuracy on the `test` split of every corpus
(in-domain, never trained on). The shipped recipe's hyper-parameter C is the one train.py chose on
the validation split. Embedding methods are costly on a CPU (e5-small), so they are trained and
tested on fixed random samples, reported with their sample size.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from marketpilot.analytics.reviews import corpora
from marketpilot.analytics.reviews.llm_pass import refine_with_llm, uncertain_rows
from marketpilot.analytics.reviews.sentiment import NgramSentiment, embed_for_sentiment, load_model
from marketpilot.config import Settings, get_settings


def _acc(pred: np.ndarray, gold: pd.Series) -> float:
    return round(float(np.mean(np.asarray(pred) == gold.to_numpy())), 4)


def _row(method: str, cross: float | None, held: float | None, n_cross: int, rate: float | None) -> dict:
    return {
        "method": method,
        "cross_domain": cross,
        "heldout": held,
        "n_cross": n_cross,
        "reviews_per_s": rate,
    }


def compare(
    lang: corpora.Lang,
    *,
    embed_sample: int = 0,
    llm_sample: int = 0,
    settings: Settings | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    df = corpora.load(lang)
    train, _, test = corpora.cross_domain(df, lang)
    held = df[df.split == "test"]
    shipped = load_model().models[lang]
    rows = []
    if lang == "zh":
        from snownlp import SnowNLP

        start = time.perf_counter()
        pred = np.array([SnowNLP(t).sentiments >= 0.5 for t in test.text], dtype=np.int64)
        rate = len(test) / (time.perf_counter() - start)
        # snownlp was trained on its own corpus, which includes these rows: an optimistic figure.
        rows.append(
            _row("snownlp (Bayes, saw these rows in training)", _acc(pred, test.label), None, len(test), rate)
        )

    tfidf = TfidfVectorizer(
        analyzer="char" if lang == "zh" else "word", ngram_range=(1, 3), sublinear_tf=True, min_df=2
    )
    lr = LogisticRegression(C=1.0, max_iter=3000).fit(tfidf.fit_transform(train.text), train.label)
    rows.append(
        _row(
            "tf-idf 1-3-gram LR (floor)",
            _acc(lr.predict(tfidf.transform(test.text)), test.label),
            None,
            len(test),
            None,
        )
    )

    recipe = NgramSentiment(lang, n_features=shipped.n_features, C=shipped.C).fit(train.text, train.label)
    start = time.perf_counter()
    cross_p = recipe.predict_proba(test.text)[:, 1]
    rate = len(test) / (time.perf_counter() - start)
    rows.append(
        _row(
            f"hashed n-gram LR C={shipped.C:g} (shipped recipe)",
            _acc(cross_p >= 0.5, test.label),
            None,
            len(test),
            rate,
        )
    )
    rows.append(
        _row(
            "shipped model (trained on all train splits)",
            None,
            _acc(shipped.predict(held.text), held.label),
            0,
            None,
        )
    )

    if embed_sample:
        rows += _embedding_rows(train, test, recipe, embed_sample, seed, lang)
    if llm_sample:
        rows += _llm_rows(test, cross_p, lang, llm_sample, settings or get_settings(), seed)
    return pd.DataFrame(rows)


def _llm_rows(
    test: pd.DataFrame, p_pos: np.ndarray, lang: corpora.Lang, sample: int, settings: Settings, seed: int
) -> list[dict]:
    """The LLM pass on `sample` random uncertain test rows: n-gram vs LLM accuracy on exactly those rows."""
    band = 0.15
    rng = np.random.default_rng(seed)
    unsure = uncertain_rows(p_pos, band)
    picked = np.sort(rng.choice(unsure, size=min(sample, len(unsure)), replace=False))
    rows = test.iloc[picked]
    start = time.perf_counter()
    refined, decided = refine_with_llm(
        rows.text.tolist(), p_pos[picked], [lang] * len(rows), settings, band=band
    )
    rate = len(rows) / (time.perf_counter() - start)
    share = len(unsure) / len(test)
    return [
        _row(
            f"n-gram on {len(rows)} uncertain rows ({share:.0%} of test)",
            _acc(p_pos[picked] >= 0.5, rows.label),
            None,
            len(rows),
            None,
        ),
        _row(
            f"LLM pass on the same rows ({len(decided)} decided)",
            _acc(refined >= 0.5, rows.label),
            None,
            len(rows),
            rate,
        ),
    ]


def _embedding_rows(
    train: pd.DataFrame, test: pd.DataFrame, ngram: NgramSentiment, sample: int, seed: int, lang: str
) -> list[dict]:
    """e5-small embeddings + LR, and the average of its probability with the n-gram model's."""
    fit_rows = train.sample(min(len(train), 3 * sample), random_state=seed)
    test_rows = test.sample(min(len(test), sample), random_state=seed)
    start = time.perf_counter()
    x_test = embed_for_sentiment(test_rows.text.tolist())
    rate = len(test_rows) / (time.perf_counter() - start)
    x_fit = embed_for_sentiment(fit_rows.text.tolist())
    head = LogisticRegression(C=3.0, max_iter=3000, class_weight="balanced").fit(x_fit, fit_rows.label)
    p_embed = head.predict_proba(x_test)[:, 1]
    p_ngram = ngram.predict_proba(test_rows.text)[:, 1]
    shipped_rows = []
    heads = load_model().heads
    if lang in heads:
        # The shipped head was fitted on cross-domain training rows only, so this row is honest too.
        coef, intercept = heads[lang]
        p_head = 1.0 / (1.0 + np.exp(-(x_test @ coef + intercept)))
        shipped_rows = [
            _row("shipped e5 head alone", _acc(p_head >= 0.5, test_rows.label), None, len(test_rows), rate),
            _row(
                "accurate mode: mean(n-gram recipe, shipped e5 head)",
                _acc((p_head + p_ngram) / 2 >= 0.5, test_rows.label),
                None,
                len(test_rows),
                rate,
            ),
        ]
    return [
        *shipped_rows,
        _row(
            f"hashed n-gram LR (same {len(test_rows)} rows)",
            _acc(p_ngram >= 0.5, test_rows.label),
            None,
            len(test_rows),
            None,
        ),
        _row(
            f"e5-small + LR (fit on {len(fit_rows)})",
            _acc(p_embed >= 0.5, test_rows.label),
            None,
            len(test_rows),
            rate,
        ),
        _row(
            "ensemble: mean(n-gram, e5)",
            _acc((p_embed + p_ngram) / 2 >= 0.5, test_rows.label),
            None,
            len(test_rows),
            None,
        ),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Compare sentiment methods on held-out reviews.")
    parser.add_argument("--lang", choices=["zh", "en"], action="append")
    parser.add_argument("--embed-sample", type=int, default=0, help="rows for the e5 methods (0: skip)")
    parser.add_argument("--llm-sample", type=int, default=0, help="uncertain rows for the LLM pass (0: skip)")
    args = parser.parse_args(argv)
    for lang in args.lang or ["zh", "en"]:
        table = compare(lang, embed_sample=args.embed_sample, llm_sample=args.llm_sample)
        print(f"\n[{lang}]\n{table.to_string(index=False)}")


if __name__ == "__main__":
    main()
