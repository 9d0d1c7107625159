"""Every sentiment method side by side, on the same held-out data in the same run.

    python -m marketpilot.analytics.reviews.evaluate [--lang zh] [--protocol unseen_source]
        [--embed-sample 400] [--embed-train 1000] [--llm-sample 12] [--llm-scores 100]

One table per (language, protocol) — protocols in corpora.py. Every method is trained on the
protocol's training rows only, so no figure comes from a model that saw the test source; snownlp's
bundled model cannot be retrained, so its row says whether it saw the test rows. `n` is the number of
test rows scored: the n-gram methods score the whole test set, then again the fixed random sample the
embedding methods (e5-small is ~10 texts/s on 2 cores) and the ensembles are scored on, so the sample
rows compare like with like. Ensembles:
- `mean(p)`: plain average of the two probabilities;
- `stacked`: logistic regression on the n-gram and e5 logits, with weights learnt from out-of-domain
  predictions on the training rows (`_out_of_domain_stacker`; nothing is tuned on the test);
- `+ LLM pass`: the stacked ensemble, with its uncertain rows (|p − 0.5| < 0.15) of the sample
  re-decided by the configured LLM, as far as `llm_sample` allows (the row says how many);
- `llm mode`: the first `llm_scores` sample rows scored as `--mode llm` scores them (where the
  e5-weighted mix of this protocol's heads is unsure, the LLM's label probabilities), beside each
  part alone: every way of asking the LLM (`llm_pass.ASKINGS`), their mean, the accurate mode. The
  LLM scores all of those rows, for its own rows.
- `fast-mode recipe: NB-LR + synthetic reviews`: the n-gram recipe also fitted on the LLM-written
  reviews (`corpora.with_synthetic`), as the shipped fast model is; every n-gram row after it
  uses this model;
- `fast mode, adapted to the test rows`: the fast-mode recipe self-trained on all the test rows
  (`adapt.adapt_fast`; Chinese, at least `adapt.MIN_ROWS` rows), as `--mode fast` scores a file;
- `+ e5-labelled opinion words` (Chinese, with an embedding sample): the recipe also fitted on the
  jieba words this protocol's e5 head rates most positive and negative (`lexicon.lexicon_rows`), as
  the shipped fast model is since 2026-12-05; alone and adapted. English: `+ VADER-rated opinion
  words` (`lexicon.vader_rows`, with or without a sample). Every n-gram row after it uses them;
- `adapted to the sample` (only for a sample of at least `adapt.MIN_ROWS` rows): the accurate mode
  and the llm mode as they run on a whole batch, self-trained on the sample's own confident rows.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.feature_extraction.text import HashingVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from marketpilot.analytics.reviews import corpora
from marketpilot.analytics.reviews.adapt import FAST_LANGS, MIN_ROWS, adapt_fast, adapt_to_batch
from marketpilot.analytics.reviews.lexicon import word_rows
from marketpilot.analytics.reviews.llm_pass import (
    ASKINGS,
    llm_label_logits,
    positive_from_logits,
    refine_with_llm,
    uncertain_rows,
)
from marketpilot.analytics.reviews.sentiment import (
    E5_WEIGHT,
    NgramSentiment,
    embed_for_sentiment,
    llm_rows,
    load_model,
    make_vectorizer,
)
from marketpilot.analytics.reviews.train import extra_head_rows
from marketpilot.config import Settings, get_settings

LLM_BAND = 0.15


def _acc(pred: np.ndarray, gold: pd.Series | np.ndarray) -> float:
    return round(float(np.mean(np.asarray(pred, dtype=bool) == (np.asarray(gold) == 1))), 4)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


@dataclass
class _Table:
    rows: list[dict[str, object]]

    def add(self, method: str, accuracy: float, n: int, rate: float | None = None, note: str = "") -> None:
        self.rows.append(
            {"method": method, "accuracy": accuracy, "n": n, "reviews_per_s": rate, "note": note}
        )


def _snownlp(texts: list[str]) -> tuple[np.ndarray, float]:
    from snownlp import SnowNLP

    start = time.perf_counter()
    p = np.array([SnowNLP(t).sentiments for t in texts])
    return p, len(texts) / (time.perf_counter() - start)


def compare(
    lang: corpora.Lang,
    protocol: corpora.Protocol = "unseen_category",
    *,
    embed_sample: int = 0,
    embed_train: int = 1000,
    llm_sample: int = 0,
    llm_scores: int = 0,
    snownlp_rows: int = 2000,
    settings: Settings | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """method, accuracy, n, reviews_per_s, note — every method on one protocol's test rows."""
    df = corpora.load(lang)
    train, _, test = corpora.protocol_split(df, lang, protocol)
    table = _Table([])
    # One fixed permutation of the test rows: its first `snownlp_rows` for snownlp (~15–150 texts/s),
    # its first `embed_sample` for the embedding methods, so every sample is a prefix of the larger one.
    shuffled = test.sample(frac=1.0, random_state=seed)
    sample = shuffled.iloc[:embed_sample]
    at = test.index.get_indexer(sample.index)

    p_snow = None
    if lang == "zh":
        snow_rows = shuffled.iloc[: max(snownlp_rows, embed_sample)]
        p_snow = pd.Series(np.nan, index=test.index)
        p_snow[snow_rows.index], rate = _snownlp(snow_rows.text.tolist())
        p_snow = p_snow.to_numpy()
        seen = protocol != "snownlp_unseen"
        table.add(
            "snownlp (bundled Bayes)",
            _acc(p_snow[test.index.get_indexer(snow_rows.index)] >= 0.5, snow_rows.label),
            len(snow_rows),
            rate,
            "trained on these test rows" if seen else "never saw the test source",
        )

    tfidf = TfidfVectorizer(
        analyzer="char" if lang == "zh" else "word", ngram_range=(1, 3), sublinear_tf=True, min_df=2
    )
    tfidf_lr = LogisticRegression(C=1.0, max_iter=3000).fit(tfidf.fit_transform(train.text), train.label)
    p_tfidf = tfidf_lr.predict_proba(tfidf.transform(test.text))[:, 1]
    table.add("tf-idf 1-3-gram LR (the floor)", _acc(p_tfidf >= 0.5, test.label), len(test))

    shipped = load_model().models[lang]
    vectorizer = make_vectorizer(lang, shipped.n_features)
    # Hashed once: every n-gram model below fits on these rows and scores `features`.
    hashed = _Hashed(vectorizer.transform(train.text.tolist()), train.label.to_numpy().astype(np.int64))

    def fit(rows: _Hashed, nb_weighting: bool = True) -> NgramSentiment:
        model = NgramSentiment(lang, n_features=shipped.n_features, C=shipped.C, nb_weighting=nb_weighting)
        return model.fit_features(rows.features, rows.labels)

    recipe = fit(hashed)
    start = time.perf_counter()
    features = vectorizer.transform(test.text.tolist())
    p_ngram = recipe.positive_features(features)
    rate = len(test) / (time.perf_counter() - start)
    table.add(
        f"hashed n-gram NB-LR C={shipped.C:g} (the corpora only)",
        _acc(p_ngram >= 0.5, test.label),
        len(test),
        rate,
    )
    # The shipped fast model also learns from the LLM-written reviews (corpora.with_synthetic); every
    # row below that uses the n-gram model uses that recipe, as the product does.
    synthetic = corpora.with_synthetic(train, df, lang).iloc[len(train) :]
    with_synthetic = hashed.plus(vectorizer, synthetic)
    if len(synthetic):
        recipe = fit(with_synthetic)
        p_ngram = recipe.positive_features(features)
        table.add(
            "fast-mode recipe: NB-LR + synthetic reviews", _acc(p_ngram >= 0.5, test.label), len(test), rate
        )
    if lang in FAST_LANGS and len(test) >= MIN_ROWS:
        p_fast = adapt_fast(features, p_ngram, recipe)
        table.add("fast mode, adapted to the test rows", _acc(p_fast >= 0.5, test.label), len(test))
    p_plain = fit(hashed, nb_weighting=False).positive_features(features)
    table.add(
        "hashed n-gram plain LR (the recipe before NB weighting)", _acc(p_plain >= 0.5, test.label), len(test)
    )

    head = _ProtocolHead.fit(train, embed_train, seed, lang) if len(sample) else None
    # As train.py builds the shipped model: rated opinion words (Chinese: rated by this protocol's head).
    words = word_rows(lang, head.coefficients() if head else None)
    if words is not None:
        recipe = fit(with_synthetic.plus(vectorizer, words))
        p_ngram = recipe.positive_features(features)
        rated_by = "e5-labelled" if lang == "zh" else "VADER-rated"
        name = f"fast-mode recipe + {len(words):,} {rated_by} opinion words"
        table.add(name, _acc(p_ngram >= 0.5, test.label), len(test))
        if lang in FAST_LANGS and len(test) >= MIN_ROWS:
            p_fast = adapt_fast(features, p_ngram, recipe)
            adapted = _acc(p_fast >= 0.5, test.label)
            table.add("fast mode + opinion words, adapted to the test rows", adapted, len(test))
    if head is not None:
        scores = {"snownlp": p_snow, "tfidf": p_tfidf, "ngram": p_ngram}
        budget = {"llm_sample": llm_sample, "llm_scores": llm_scores}
        _embedding_rows(table, train, hashed, sample, at, recipe, scores, head, lang, budget, settings)
    return pd.DataFrame(table.rows)


@dataclass
class _Hashed:
    """Training rows as `make_vectorizer` hashes them, with their labels."""

    features: sparse.csr_matrix
    labels: np.ndarray

    def plus(self, vectorizer: HashingVectorizer, rows: pd.DataFrame) -> _Hashed:
        return _Hashed(
            sparse.vstack([self.features, vectorizer.transform(rows.text.tolist())], format="csr"),
            np.concatenate([self.labels, rows.label.to_numpy().astype(np.int64)]),
        )


@dataclass
class _ProtocolHead:
    """The e5 head fitted as train.py fits the shipped one, on the protocol's training rows only."""

    model: LogisticRegression
    fit_rows: pd.DataFrame
    x_fit: np.ndarray
    extra: pd.DataFrame

    @classmethod
    def fit(cls, train: pd.DataFrame, embed_train: int, seed: int, lang: corpora.Lang) -> _ProtocolHead:
        fit_rows = train.sample(min(len(train), embed_train), random_state=seed)
        x_fit = embed_for_sentiment(fit_rows.text.tolist())
        # The shipped recipe: the protocol's rows plus the other languages' (`train.extra_head_rows`).
        extra = extra_head_rows(lang, seed=seed)
        x_head = np.vstack([x_fit, embed_for_sentiment(extra.text.tolist())]) if len(extra) else x_fit
        y_head = np.concatenate([fit_rows.label.to_numpy(), extra.label.to_numpy()]).astype(int)
        model = LogisticRegression(C=1.0, max_iter=3000, class_weight="balanced").fit(x_head, y_head)
        return cls(model, fit_rows, x_fit, extra)

    def coefficients(self) -> tuple[np.ndarray, float]:
        return self.model.coef_.ravel(), float(self.model.intercept_[0])


def _embedding_rows(
    table: _Table,
    train: pd.DataFrame,
    hashed: _Hashed,
    sample: pd.DataFrame,
    at: np.ndarray,
    recipe: NgramSentiment,
    scores: dict[str, np.ndarray | None],
    head: _ProtocolHead,
    lang: corpora.Lang,
    budget: dict[str, int],
    settings: Settings | None,
) -> None:
    """e5-small head, ensembles and the LLM methods, all on the same fixed test sample."""
    y, n = sample.label.to_numpy(), len(sample)
    fit_rows, x_fit, extra = head.fit_rows, head.x_fit, head.extra
    x_test = embed_for_sentiment(sample.text.tolist())
    p_e5 = head.model.predict_proba(x_test)[:, 1]
    ngram_s, tfidf_s, p_snow = scores["ngram"][at], scores["tfidf"][at], scores["snownlp"]  # type: ignore[index]
    if p_snow is not None:
        table.add("snownlp (same sample)", _acc(p_snow[at] >= 0.5, y), n)
    table.add("tf-idf 1-3-gram LR (same sample)", _acc(tfidf_s >= 0.5, y), n)
    table.add("hashed n-gram NB-LR (same sample)", _acc(ngram_s >= 0.5, y), n)
    # No rate: the embedding cache makes it meaningless here; bench/reviews_bench.py measures it.
    table.add(
        f"e5-small + LR (fit on {len(fit_rows)} + {len(extra)} of other languages)", _acc(p_e5 >= 0.5, y), n
    )
    if len(extra):
        alone = LogisticRegression(C=1.0, max_iter=3000, class_weight="balanced").fit(x_fit, fit_rows.label)
        table.add(f"e5 head on the {len(fit_rows)} rows alone", _acc(alone.predict(x_test) == 1, y), n)
    table.add("mean(p): n-gram + e5", _acc((ngram_s + p_e5) / 2 >= 0.5, y), n)
    table.add("mean(p): tf-idf + e5", _acc((tfidf_s + p_e5) / 2 >= 0.5, y), n)
    p_accurate = (1 - E5_WEIGHT) * ngram_s + E5_WEIGHT * p_e5
    table.add(f"accurate mode: {1 - E5_WEIGHT:g} n-gram + {E5_WEIGHT:g} e5", _acc(p_accurate >= 0.5, y), n)
    texts = sample.text.tolist()
    p_adapted = adapt_to_batch(texts, x_test, p_accurate, lang)
    if n >= MIN_ROWS:
        table.add("accurate mode, adapted to the sample", _acc(p_adapted >= 0.5, y), n)

    stacker = _out_of_domain_stacker(train, hashed, fit_rows, x_fit, recipe)
    p_stack = stacker.predict_proba(np.column_stack([_logit(ngram_s), _logit(p_e5)]))[:, 1]
    table.add(
        f"stacked: n-gram + e5 (out-of-domain weights {np.round(stacker.coef_.ravel(), 2).tolist()})",
        _acc(p_stack >= 0.5, y),
        n,
    )
    if lang in load_model().heads:
        coef, intercept = load_model().heads[lang]
        p_head = 1.0 / (1.0 + np.exp(-(x_test @ coef + intercept)))
        table.add("shipped e5 head (fit on every corpus)", _acc(p_head >= 0.5, y), n, None, "not held out")
    if budget["llm_scores"]:
        k = min(budget["llm_scores"], n)
        start = time.perf_counter()
        logits = llm_label_logits(sample.text.iloc[:k].tolist(), [lang] * k, settings or get_settings())
        rate = k / (time.perf_counter() - start)
        askings = ASKINGS[lang]
        for column, asking in enumerate(askings):
            alone = _acc(logits[:, column] > 0, y[:k])
            table.add(f"LLM label probabilities: {asking.prompt} alone", alone, k)
        p_llm = positive_from_logits(logits)
        table.add(f"LLM label probabilities: mean of {len(askings)}", _acc(p_llm >= 0.5, y[:k]), k, rate)
        table.add("accurate mode (same rows)", _acc(p_accurate[:k] >= 0.5, y[:k]), k)
        p_mode = p_accurate[:k].copy()
        unsure = llm_rows(p_mode)
        p_mode[unsure] = p_llm[unsure]
        table.add(
            "llm mode: the LLM where the accurate mode is unsure",
            _acc(p_mode >= 0.5, y[:k]),
            k,
            None,
            f"{len(unsure)} of {k} rows asked",
        )
        if n >= MIN_ROWS:
            # As `--mode llm` runs on the whole sample, except that rows past the first k keep the
            # adapted accurate mode's P instead of asking the LLM (a cheaper, weaker batch to learn from).
            p_batch = p_adapted.copy()
            unsure = llm_rows(p_batch[:k])
            p_batch[unsure] = p_llm[unsure]
            p_batch = adapt_to_batch(texts, x_test, p_batch, lang)
            table.add(
                "llm mode, adapted to the sample",
                _acc(p_batch[:k] >= 0.5, y[:k]),
                k,
                None,
                f"{len(unsure)} of {k} rows asked; the other {n - k} rows are the adapted accurate mode",
            )
    if budget["llm_sample"]:
        unsure = uncertain_rows(p_stack, LLM_BAND)
        picked = unsure[: budget["llm_sample"]]
        refined, decided = refine_with_llm(
            sample.text.iloc[picked].tolist(),
            p_stack[picked],
            [lang] * len(picked),
            settings or get_settings(),
            band=LLM_BAND,
        )
        p_final = p_stack.copy()
        p_final[picked] = refined
        covered = f"{len(decided)} of {len(unsure)} uncertain rows ({len(unsure) / n:.0%}) re-decided"
        table.add("stacked on the uncertain rows only", _acc(p_stack[picked] >= 0.5, y[picked]), len(picked))
        table.add("LLM on the same uncertain rows", _acc(refined >= 0.5, y[picked]), len(picked))
        table.add("stacked + LLM pass", _acc(p_final >= 0.5, y), n, None, covered)


def _out_of_domain_stacker(
    train: pd.DataFrame, hashed: _Hashed, fit_rows: pd.DataFrame, x_fit: np.ndarray, recipe: NgramSentiment
) -> LogisticRegression:
    """Weights for the n-gram and e5 logits, learnt from out-of-domain predictions: each training source
    (or category, when there is one source) is predicted by models fitted without it. Weights fitted
    in-domain trust the n-grams, which do not transfer; these weights see the shift. `hashed`: `train`'s
    rows, hashed, in order."""
    by = "source" if train.source.nunique() > 1 else "category"
    at = train.index.get_indexer(fit_rows.index)
    p_ngram, p_e5 = np.zeros(len(fit_rows)), np.zeros(len(fit_rows))
    for group in fit_rows[by].unique():
        inside = (fit_rows[by] == group).to_numpy()
        rest = (train[by] != group).to_numpy()
        ngram = NgramSentiment(recipe.lang, n_features=recipe.n_features, C=recipe.C).fit_features(
            hashed.features[rest], hashed.labels[rest]
        )
        p_ngram[inside] = ngram.positive_features(hashed.features[at[inside]])
        head = LogisticRegression(C=1.0, max_iter=3000, class_weight="balanced")
        p_e5[inside] = head.fit(x_fit[~inside], fit_rows.label[~inside]).predict_proba(x_fit[inside])[:, 1]
    return LogisticRegression(C=1.0).fit(np.column_stack([_logit(p_ngram), _logit(p_e5)]), fit_rows.label)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Compare sentiment methods on held-out reviews.")
    parser.add_argument("--lang", choices=["zh", "en"], action="append")
    parser.add_argument("--protocol", choices=corpora.PROTOCOLS, action="append")
    parser.add_argument("--embed-sample", type=int, default=0, help="test rows for the e5 methods (0: skip)")
    parser.add_argument("--embed-train", type=int, default=1000, help="training rows for the e5 head")
    parser.add_argument("--llm-sample", type=int, default=0, help="uncertain rows for the LLM pass (0: skip)")
    parser.add_argument("--llm-scores", type=int, default=0, help="sample rows for the llm mode (0: skip)")
    args = parser.parse_args(argv)
    pd.set_option("display.width", 200)
    for lang in args.lang or ["zh", "en"]:
        protocols = args.protocol or (list(corpora.PROTOCOLS) if lang == "zh" else ["unseen_category"])
        for protocol in protocols:
            if lang == "en" and protocol != "unseen_category":
                continue
            table = compare(
                lang,
                protocol,
                embed_sample=args.embed_sample,
                embed_train=args.embed_train,
                llm_sample=args.llm_sample,
                llm_scores=args.llm_scores,
            )
            print(f"\n[{lang} / {protocol}]\n{table.to_string(index=False)}", flush=True)


if __name__ == "__main__":
    main()
