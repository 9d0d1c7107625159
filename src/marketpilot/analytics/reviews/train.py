"""Rebuild the shipped sentiment weights from the corpora in data/ (deterministic: same data, same file).

    python -m marketpilot.analytics.reviews.train [--data DIR] [--out FILE]

For each language, C is chosen on the `valid` split; the final model is fitted on `train` only, so the
`test` split of every corpus stays unseen by the shipped model.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from marketpilot.analytics.reviews import corpora, lexicon
from marketpilot.analytics.reviews.sentiment import MODEL_PATH, NgramSentiment, SentimentModel

C_GRID = (1.0, 3.0, 10.0, 30.0)


def choose_c(lang: corpora.Lang, train_texts, train_y, valid_texts, valid_y) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """(best C, its validation accuracy); ties go to the smaller C (more regularised)."""
    scores = [
        float(np.mean(NgramSentiment(lang, C=c).fit(train_texts, train_y).predict(valid_texts) == valid_y))
        for c in C_GRID
    ]
    best = int(np.argmax(scores))
    return C_GRID[best], scores[best]


def train_language(
    lang: corpora.Lang, root: Path | None = None, words: pd.DataFrame | None = None
) -> tuple[NgramSentiment, dict[str, float]]:
    """The fast mode's n-gram model: the corpora's `train` rows, the synthetic reviews and `words`
    (`lexicon.word_rows`: one-word rows, Chinese labelled by the e5 head, English by VADER's raters)."""
    df = corpora.load(lang, root)
    train, valid = corpora.shipped_training(df)
    train = corpora.with_synthetic(train, df, lang, root)
    if words is not None:
        train = pd.concat([train, words.assign(split="train")], ignore_index=True)
    c, valid_acc = choose_c(lang, train.text, train.label.to_numpy(), valid.text, valid.label.to_numpy())
    model = NgramSentiment(lang, C=c).fit(train.text, train.label)
    held = df[df.split == "test"]
    test_acc = float(np.mean(model.predict(held.text) == held.label.to_numpy()))
    return model, {
        "C": c,
        "valid_accuracy": valid_acc,
        "heldout_accuracy": test_acc,
        "train_rows": len(train),
        "synthetic_rows": int((train.source == "synthetic_llm").sum()),
        "lexicon_rows": int(train.source.isin(lexicon.SOURCES).sum()),
    }


# The Chinese head also learns from the English corpora: multilingual-e5 puts both languages in one
# space, and English reviews of products the Chinese corpora lack lifted the head on Chinese sources it
# never saw by 0.4 to 3.1 points (three protocols, two samples each, 1,000 English rows per source;
# docs/review-insight.md). The other way round was not measured, so the English head stays English.
HEAD_EXTRA_LANGS: dict[str, tuple[corpora.Lang, ...]] = {"zh": ("en",), "en": ()}
EXTRA_ROWS_PER_SOURCE = 1000


def per_source_sample(df: pd.DataFrame, rows: int, seed: int = 0) -> pd.DataFrame:
    """Up to `rows` rows of each source, so that no source dominates."""
    return pd.concat(g.sample(min(rows, len(g)), random_state=seed) for _, g in df.groupby("source"))


def extra_head_rows(lang: corpora.Lang, root: Path | None = None, seed: int = 0) -> pd.DataFrame:
    """The other languages' training rows that `lang`'s e5 head also learns from (HEAD_EXTRA_LANGS)."""
    frames = [
        per_source_sample(corpora.shipped_training(corpora.load(other, root))[0], EXTRA_ROWS_PER_SOURCE, seed)
        for other in HEAD_EXTRA_LANGS[lang]
    ]
    return pd.concat(frames) if frames else pd.DataFrame(columns=["text", "label", "source"])


def train_embedding_head(
    lang: corpora.Lang, rows_per_source: int, root: Path | None = None
) -> tuple[np.ndarray, float]:
    """(coef, intercept) of an LR on e5-small embeddings of a fixed sample of every corpus' `train`
    rows, `rows_per_source` from each, plus `extra_head_rows`. C=1: across four cross-source protocols
    the stronger regularisation transferred best, and more rows than ~1,000 per corpus did not help
    (docs/review-insight.md). Embedding is the slow part (~15–60 texts/s on 2 cores)."""
    from sklearn.linear_model import LogisticRegression

    from marketpilot.analytics.reviews.sentiment import embed_for_sentiment

    train, _ = corpora.shipped_training(corpora.load(lang, root))
    sample = pd.concat([per_source_sample(train, rows_per_source), extra_head_rows(lang, root)])
    head = LogisticRegression(C=1.0, max_iter=3000, class_weight="balanced")
    head.fit(embed_for_sentiment(sample.text.tolist()), sample.label.astype(int))
    return head.coef_.ravel().astype(np.float32), float(head.intercept_[0])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="folder holding reviews_zh/ and reviews_en/")
    parser.add_argument("--out", type=Path, default=MODEL_PATH)
    parser.add_argument(
        "--embedding-rows", type=int, default=2000, help="rows per corpus for the e5 head (0: no head)"
    )
    parser.add_argument(
        "--keep-heads",
        action="store_true",
        help="refit the n-gram weights only; keep the e5 heads of the model at --out (no embedding)",
    )
    args = parser.parse_args(argv)
    models = {}
    heads = SentimentModel.load(args.out).heads if args.keep_heads else {}
    for lang in ("zh", "en"):
        # The head comes first: it labels the opinion words the Chinese n-grams also learn from.
        if args.embedding_rows and not args.keep_heads:
            heads[lang] = train_embedding_head(lang, args.embedding_rows, args.data)
        words = lexicon.word_rows(lang, heads.get(lang), args.data)
        models[lang], report = train_language(lang, args.data, words)
        print(lang, " ".join(f"{k}={v:.4g}" for k, v in report.items()), flush=True)
    SentimentModel(models, heads).save(args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
