"""Sentence-level sentiment: a hashed n-gram logistic regression per language, shipped in the package.

Hashing keeps the model a fixed-size weight vector (no vocabulary to ship) and makes scoring one sparse
matrix-vector product, so millions of reviews score on a laptop CPU. Chinese uses character 1–3-grams
(no segmentation needed, robust to typos and slang); English uses word 1–2-grams so "not good" is a
feature of its own. Both models also train on reviews the embedded LLM wrote for 60 categories the
corpora lack (`synthesize.py`): +1 to +4 points out of domain in Chinese, +5 to +12 in English.
`python -m marketpilot.analytics.reviews.train` rebuilds the shipped weights.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.linear_model import LogisticRegression

from marketpilot.config import Settings, get_settings
from marketpilot.errors import NotFittedError, UserError

Lang = Literal["zh", "en"]
MODEL_PATH = Path(__file__).with_name("sentiment_model.npz")
_CJK = re.compile(r"[\u3400-\u9fff]")
_SPACES = re.compile(r"\s+")


def detect_language(texts: Sequence[str]) -> np.ndarray:
    """'zh' where a text has any CJK ideograph, else 'en' (Chinese reviews mix in Latin model names)."""
    return np.array(["zh" if _CJK.search(t) else "en" for t in texts], dtype=object)


# Texts that carry no opinion: blank, or what a marketplace writes for a buyer who wrote nothing
# (JD's 此用户未填写评价内容, Taobao's 此用户没有填写评价 and 系统默认好评). Models read them as
# complaints (0.71–0.85 negative), which skews a shop's counts where they are a large share.
_WHO = r"[此该]?(?:用户|买家|评价方)?"
_PLACEHOLDER = re.compile(
    rf"(?:{_WHO}(?:没有|未)(?:填写|作出|做出)?(?:评价|评论)(?:内容)?"
    rf"|(?:{_WHO}(?:未及时|没有及时|未|没有)(?:作出|做出)?(?:评价|评论))?(?:系统)?默认好评"
    r"|no(?:review)?text)"
)
_NOT_WORDS = re.compile(r"[\W_]+")
# Tmall's text for a buyer who only gave stars ("该用户觉得商品较好，给出了5星好评"), and a bare
# rating ("5", "10分", "4星", "10/10"): a score on an unknown scale, no words to read.
_STARS_ONLY = re.compile(
    rf"{_WHO}觉得(?:商品|宝贝)?\w{{0,4}}给出了?[1-5一二三四五]星(?:好评|中评|差评)?"
    r"|\d+(?:分|星|颗星|stars?)?"
)
# What shop exports wrap around a review: HTML (<br>, <p>…), links, control characters (NUL), and the
# follow-up markers of 追评 ("【追加评论】", "追加评论：", "15天后追评："). Cut to a line break, so the
# aspect clauses split there too; entities (&nbsp;, &#128077;) are decoded after.
_WRAPPING = re.compile(
    r"</?[A-Za-z][^<>]{0,200}>"
    r"|(?:https?://|www\.)[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+"
    r"|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
    r"|[【\[（(]?(?:(?:收货|购买|使用)?\d+天后)?(?:追加评论|追加评价|追评|初次评价|首次评价)[】\]）)]?[:：]?",
    re.IGNORECASE,
)
# `_WRAPPING` scans slowly (~15 µs a review); these substrings tell in under 1 µs if it can match.
_WRAPPING_HINTS = ("<", "://", "www.", "追", "次评价")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def plain_text(text: str) -> str:
    """`text` without the markup, links and 追评 markers of a shop's export (`_WRAPPING`), entities
    decoded: they are no buyer's words, yet the n-grams read "<br>" alone as 58 % negative."""
    if any(hint in text for hint in _WRAPPING_HINTS) or _CONTROL.search(text):
        text = _WRAPPING.sub("\n", text)
    return html.unescape(text) if "&" in text else text


def no_opinion(texts: Sequence[str]) -> np.ndarray:
    """True where a text holds no words of the buyer's own: blank, only emoji, punctuation, a rating,
    a link or markup (`plain_text`), or a marketplace placeholder."""
    return np.array([not (w := _NOT_WORDS.sub("", plain_text(t)).lower())
                     or bool(_PLACEHOLDER.fullmatch(w) or _STARS_ONLY.fullmatch(w))
                     for t in texts], dtype=bool)  # fmt: skip


# Japanese kana and Korean hangul: neither model has seen them (the Chinese one scores 良い商品 as
# 61 % negative), so a review mostly in them gets no score rather than a guess.
_KANA_HANGUL = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff\u1100-\u11ff\u3130-\u318f\uac00-\ud7af]")
_LETTERS = re.compile(
    r"[A-Za-z\u3400-\u9fff\u3040-\u30ff\u31f0-\u31ff\u1100-\u11ff\u3130-\u318f\uac00-\ud7af]"
)


def other_language(texts: Sequence[str]) -> np.ndarray:
    """True where kana or hangul make 30 % or more of a text's letters (a Chinese review that names a
    Japanese brand stays Chinese)."""
    return np.array([(n := len(_KANA_HANGUL.findall(t))) >= 2 and n >= 0.3 * len(_LETTERS.findall(t))
                     for t in texts], dtype=bool)  # fmt: skip


_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _clean(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def make_vectorizer(lang: Lang, n_features: int) -> HashingVectorizer:
    common = dict(
        n_features=n_features,
        binary=True,
        norm="l2",
        alternate_sign=False,
        lowercase=True,
        preprocessor=_clean,
        dtype=np.float32,
    )
    if lang == "zh":
        return HashingVectorizer(analyzer="char", ngram_range=(1, 3), **common)
    return HashingVectorizer(
        analyzer="word", ngram_range=(1, 2), token_pattern=r"(?u)\b\w[\w']*\b|[!?]", **common
    )


def nb_ratio(features: sparse.csr_matrix, labels: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """Per feature, the log-ratio of its smoothed frequency in positive vs negative texts (NBSVM)."""
    present = features > 0
    pos = np.asarray(present[labels == 1].sum(axis=0)).ravel() + alpha
    neg = np.asarray(present[labels == 0].sum(axis=0)).ravel() + alpha
    return np.log((pos / pos.sum()) / (neg / neg.sum())).astype(np.float32)


class NgramSentiment(BaseEstimator, ClassifierMixin):
    """Logistic regression on hashed n-grams; `predict_proba(texts)[:, 1]` is P(positive).

    With `nb_weighting` each feature is scaled by its `nb_ratio` before the fit (Wang & Manning's
    NBSVM, with LR), so the regulariser spends its budget on words whose polarity the counts already
    show: +1.3 to +2.6 points on three of four Chinese cross-source protocols and +1.2 on English
    amazon-cells, +0.6 in domain, −0.1 on the fourth (hotels; bench/reviews_ngram_variants.py). The
    scaling folds into the weights, so scoring is unchanged: one sparse matrix-vector product.
    """

    def __init__(
        self,
        lang: Lang = "zh",
        n_features: int = 2**20,
        C: float = 1.0,
        class_weight: str | None = "balanced",
        nb_weighting: bool = True,
    ) -> None:
        self.lang = lang
        self.n_features = n_features
        self.C = C
        self.class_weight = class_weight
        self.nb_weighting = nb_weighting

    def fit(self, texts: Sequence[str], y: Sequence[int]) -> NgramSentiment:
        labels = np.asarray(y, dtype=np.int64)
        if set(np.unique(labels)) - {0, 1}:
            raise UserError("sentiment labels must be 0 (negative) or 1 (positive)")
        return self.fit_features(make_vectorizer(self.lang, self.n_features).transform(list(texts)), labels)

    def fit_features(self, features: sparse.csr_matrix, labels: np.ndarray) -> NgramSentiment:
        """`fit` on texts already hashed by `make_vectorizer(self.lang, self.n_features)`."""
        scale = nb_ratio(features, labels) if self.nb_weighting else np.ones(self.n_features, np.float32)
        model = LogisticRegression(
            C=self.C, class_weight=self.class_weight, max_iter=3000, solver="liblinear", random_state=0
        )
        model.fit(features @ sparse.diags(scale), labels)
        self.coef_ = (model.coef_.ravel() * scale).astype(np.float32)
        self.intercept_ = float(model.intercept_[0])
        self.classes_ = np.array([0, 1])
        return self

    def _check(self) -> None:
        if not hasattr(self, "coef_"):
            raise NotFittedError("NgramSentiment is not fitted; call fit() or load the shipped model")

    def decision_function(self, texts: Sequence[str]) -> np.ndarray:
        return self.decision_features(make_vectorizer(self.lang, self.n_features).transform(list(texts)))

    def decision_features(self, features: sparse.csr_matrix) -> np.ndarray:
        self._check()
        return features @ self.coef_ + self.intercept_

    def positive_features(self, features: sparse.csr_matrix) -> np.ndarray:
        """P(positive) per row of texts already hashed by `make_vectorizer`."""
        return 1.0 / (1.0 + np.exp(-self.decision_features(features)))

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        pos = self.positive_features(make_vectorizer(self.lang, self.n_features).transform(list(texts)))
        return np.column_stack([1.0 - pos, pos])

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        return (self.decision_function(texts) > 0).astype(np.int64)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Only the non-zero weights, as float16: the shipped file stays a few MB."""
        self._check()
        nz = np.flatnonzero(np.abs(self.coef_) > 1e-4).astype(np.int32)
        return {
            f"{self.lang}_index": nz,
            f"{self.lang}_weight": self.coef_[nz].astype(np.float16),
            f"{self.lang}_meta": np.array([self.n_features, self.intercept_, self.C], dtype=np.float64),
        }

    @classmethod
    def from_arrays(cls, lang: Lang, arrays: dict[str, np.ndarray]) -> NgramSentiment:
        n_features, intercept, c = arrays[f"{lang}_meta"]
        model = cls(lang=lang, n_features=int(n_features), C=float(c))
        coef = np.zeros(int(n_features), dtype=np.float32)
        coef[arrays[f"{lang}_index"]] = arrays[f"{lang}_weight"].astype(np.float32)
        model.coef_, model.intercept_, model.classes_ = coef, float(intercept), np.array([0, 1])
        return model


MODES = ("fast", "accurate", "llm")
SentimentMode = Literal["fast", "accurate"]  # the modes that need no LLM (aspects, the insight)
# Out of domain the n-grams hurt an average with e5 (four cross-source protocols, 400 rows each:
# e5 alone 0.83–0.86, 50/50 with n-grams 0.81–0.84, e5 at 70 % or 85 % 0.82–0.86); in domain they
# still add a little.
E5_WEIGHT = 0.8
# llm mode: reviews the accurate mode is sure of (P < 0.2 or > 0.8) skip the LLM; sending them too
# changed no figure by more than a row on three cross-source protocols (150–300 rows each). The rest
# take the LLM's P alone: averaging in the accurate mode's (LLM weight 0.5 or 0.7) moved two
# protocols by at most a row and cost 1.3 points on the third (waimai).
LLM_BAND = 0.3
EMBED_CHARS = 256  # e5 cost grows with length; the opinion is nearly always in the first sentences


def embed_for_sentiment(texts: Sequence[str]) -> np.ndarray:
    from marketpilot.embed import embed

    return embed([t[:EMBED_CHARS] for t in texts], kind="query")


def llm_rows(p_accurate: np.ndarray) -> np.ndarray:
    """Indices of the reviews the llm mode asks the LLM about."""
    return np.flatnonzero(np.abs(p_accurate - 0.5) < LLM_BAND)


class SentimentModel:
    """One `NgramSentiment` per language; routes each text by `detect_language` unless told.

    Modes, from fastest to most accurate on reviews unlike the training corpora (docs/review-insight.md):
    - `fast` (default): the n-gram model alone, >5,000 reviews/s;
    - `accurate`: mostly a logistic head on e5-small embeddings (`heads`: lang -> (coef, intercept)),
      which transfers to unseen sources and categories far better than n-grams; ~15 reviews/s;
    - `llm`: where `accurate` is unsure (`llm_rows`), the configured LLM's P(positive), read from its
      label probabilities (`llm_pass.llm_positive_proba`, two phrasings for Chinese); about 0.5
      Chinese reviews/s on 2 cores with the embedded model.
    Every mode then adapts to a large batch: the fast mode its Chinese rows (`adapt.adapt_fast`), the
    slower modes every language (`adapt.adapt_to_batch`; the llm mode twice).
    """

    def __init__(
        self, models: dict[str, NgramSentiment], heads: dict[str, tuple[np.ndarray, float]] | None = None
    ) -> None:
        self.models = models
        self.heads = heads or {}

    @classmethod
    def load(cls, path: Path = MODEL_PATH) -> SentimentModel:
        if not path.exists():
            raise UserError(
                f"sentiment model not found: {path}",
                hint="python -m marketpilot.analytics.reviews.train",
            )
        with np.load(path) as data:
            arrays = {key: data[key] for key in data.files}
        heads = {
            lang: (arrays[f"{lang}_e5_coef"], float(arrays[f"{lang}_e5_intercept"][0]))
            for lang in ("zh", "en")
            if f"{lang}_e5_coef" in arrays
        }
        return cls({lang: NgramSentiment.from_arrays(lang, arrays) for lang in ("zh", "en")}, heads)

    def save(self, path: Path = MODEL_PATH) -> None:
        arrays: dict[str, np.ndarray] = {}
        for model in self.models.values():
            arrays.update(model.to_arrays())
        for lang, (coef, intercept) in self.heads.items():
            arrays[f"{lang}_e5_coef"] = coef.astype(np.float32)
            arrays[f"{lang}_e5_intercept"] = np.array([intercept])
        tmp = path.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, **arrays)
        tmp.replace(path)

    def positive_proba(
        self,
        texts: Sequence[str],
        lang: str = "auto",
        mode: str = "fast",
        settings: Settings | None = None,
        *,
        adapt: bool = True,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(P(positive), language) per text; `settings` picks the LLM for mode "llm". `adapt` lets a
        batch of at least `adapt.MIN_ROWS` texts of a language train on its own confident rows
        (`adapt.adapt_to_batch`; in the fast mode `adapt.adapt_fast`, Chinese only), so a text's score
        depends on its batch."""
        if mode not in MODES:
            raise UserError(f"unknown sentiment mode {mode!r}", hint="use " + ", ".join(MODES))
        if mode != "fast" and not self.heads:
            raise UserError(
                "this sentiment model has no embedding head",
                hint="python -m marketpilot.analytics.reviews.train --embedding-rows 2000",
            )
        texts = [t if isinstance(t, str) else "" for t in texts]
        if bad := [i for i, t in enumerate(texts) if _SURROGATE.search(t)]:
            raise UserError(
                f"text {bad[0]} (counting from 0) has a lone surrogate such as \\ud800, which is not a "
                f"character; {len(bad)} text(s) in all",
                hint="send UTF-8 text; bytes from a GBK source must be decoded as GBK first",
            )
        texts = [plain_text(t) for t in texts]
        langs = detect_language(texts) if lang == "auto" else np.full(len(texts), lang, dtype=object)
        silent = no_opinion(texts) | other_language(texts)
        if silent.any():  # P = 0.5, and kept out of the batch adaptation and the LLM's questions
            proba = np.full(len(texts), 0.5)
            if not silent.all():
                said = np.flatnonzero(~silent)
                proba[said], langs[said] = self.positive_proba(
                    [texts[i] for i in said], lang, mode, settings, adapt=adapt
                )
            return proba, langs
        proba = np.full(len(texts), 0.5)
        embedded: dict[str, tuple[np.ndarray, list[str], np.ndarray]] = {}
        for code, model in self.models.items():
            rows = np.flatnonzero(langs == code)
            if not rows.size:
                continue
            chosen = [texts[i] for i in rows]
            features = make_vectorizer(model.lang, model.n_features).transform(chosen)
            proba[rows] = model.positive_features(features)
            if mode == "fast" and adapt:
                from marketpilot.analytics.reviews.adapt import adapt_fast

                proba[rows] = adapt_fast(features, proba[rows], model)
            if mode != "fast":
                coef, intercept = self.heads[code]
                embeddings = embed_for_sentiment(chosen)
                p_embed = 1.0 / (1.0 + np.exp(-(embeddings @ coef + intercept)))
                proba[rows] = (1 - E5_WEIGHT) * proba[rows] + E5_WEIGHT * p_embed
                embedded[code] = (rows, chosen, embeddings)
        if adapt:
            proba = _adapted(proba, embedded)
        if mode == "llm":
            from marketpilot.analytics.reviews.llm_pass import llm_positive_proba

            unsure = llm_rows(proba)
            proba[unsure] = llm_positive_proba(
                [texts[i] for i in unsure], langs[unsure], settings or get_settings()
            )
            if adapt:
                # Again, from the LLM's better labels: +1.2 to +2 points on three cross-source
                # protocols, where adapting the accurate mode alone barely moved the llm mode
                # (600 rows each; docs/review-insight.md).
                proba = _adapted(proba, embedded)
        return proba, langs

    def predict(
        self,
        texts: Sequence[str],
        lang: str = "auto",
        mode: str = "fast",
        settings: Settings | None = None,
        *,
        adapt: bool = True,
    ) -> pd.DataFrame:
        """label ('pos'/'neg'), probability (of that label), p_pos, lang — one row per text."""
        if lang not in ("auto", "zh", "en"):
            raise UserError(f"unknown language {lang!r}", hint="use auto, zh or en")
        p_pos, langs = self.positive_proba(texts, lang, mode, settings, adapt=adapt)
        positive = p_pos >= 0.5
        return pd.DataFrame(
            {
                "label": np.where(positive, "pos", "neg"),
                "probability": np.where(positive, p_pos, 1.0 - p_pos).round(4),
                "p_pos": p_pos,
                "lang": langs,
            }
        )


def _adapted(proba: np.ndarray, embedded: dict[str, tuple[np.ndarray, list[str], np.ndarray]]) -> np.ndarray:
    """`proba` with each language's rows adapted to the batch (`adapt.adapt_to_batch`)."""
    from marketpilot.analytics.reviews.adapt import adapt_to_batch

    proba = proba.copy()
    for code, (rows, chosen, embeddings) in embedded.items():
        proba[rows] = adapt_to_batch(chosen, embeddings, proba[rows], code)  # type: ignore[arg-type]
    return proba


@lru_cache(maxsize=1)
def load_model() -> SentimentModel:
    """The shipped model, loaded once per process."""
    return SentimentModel.load()
