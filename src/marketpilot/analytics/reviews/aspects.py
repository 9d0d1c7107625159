"""Aspect-level sentiment: which aspects (质量, 物流, 价格, …) a review talks about, and how it feels.

A review is cut into clauses (punctuation and contrast words such as 但是/不过/but), because one review
often praises one aspect and blames another ("质量很好，但是物流太慢"). A clause names an aspect when it
contains one of the lexicon terms (data/aspects.yaml); optionally, a clause that names none is given the
aspect whose prototype embedding is nearest, above a similarity floor. The clause's sentiment is the
shipped classifier's score of that clause alone (fast or accurate mode); only a clearly scored clause is
praise or a complaint, the rest are neutral mentions (`clause_labels`). Aspects beyond the lexicon are
named by the LLM in open_aspects.py and counted in the same mention frames.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, Field

from marketpilot.analytics.reviews.sentiment import SentimentMode, SentimentModel, load_model

LEXICON_PATH = Path(__file__).parent / "data" / "aspects.yaml"
# Clause boundaries: sentence punctuation, and contrast words that start a new opinion.
_CLAUSE_SPLIT = re.compile(
    r"[，。！？；,.!?;\n~～…]+|(?=但是|不过|可是|就是|只是)|\b(?=but\b|however\b|although\b)"
)

_LEADING_CONNECTIVE = re.compile(r"^\s*(?:但是|不过|可是|就是|只是|but\b|however\b|although\b)[\s,，]*", re.I)

# A clause is praise at P(pos) >= 0.6 and a complaint below 0.4; between, it is a neutral mention
# ("收到了" 0.37). Inside a review the model reads as positive, a complaint needs P < 0.25 ("质量杠杠的"
# 0.27 in a 0.57 review). Chosen on the ChnSentiCorp hotel test split (docs/review-insight.md, "Aspects"):
# the band cut complaint mentions in positive reviews 235 -> 168 while keeping 239 of 286 in negative
# ones; the review rule cut them to 109 and kept all 239.
NEUTRAL_BAND = 0.1
POSITIVE_REVIEW_COMPLAINT = 0.25


class Aspect(BaseModel):
    key: str
    zh_name: str
    zh: str
    en: str
    prototype: str

    def name(self, lang: str) -> str:
        return self.zh_name if lang == "zh" else self.key

    def pattern(self) -> str:
        return f"(?:{self.zh})|\\b(?:{self.en})\\b"


@lru_cache(maxsize=4)
def load_aspects(path: Path = LEXICON_PATH) -> tuple[Aspect, ...]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    return tuple(Aspect(key=key, **spec) for key, spec in raw.items())


def split_clauses(reviews: pd.DataFrame) -> pd.DataFrame:
    """review_id, clause — one row per non-trivial clause of each review's `text`."""
    parts = reviews.text.fillna("").astype(str).str.split(_CLAUSE_SPLIT, regex=True)
    clauses = pd.DataFrame({"review_id": reviews.review_id.to_numpy(), "clause": parts.to_numpy()})
    clauses = clauses.explode("clause").dropna()
    # The connective marks where an opinion starts; it is not part of it ("but" reads as positive to a
    # model trained on whole reviews, where it mostly introduces a minor complaint after praise).
    clauses["clause"] = clauses.clause.str.replace(_LEADING_CONNECTIVE, "", regex=True).str.strip()
    return clauses[clauses.clause.str.len() >= 2].reset_index(drop=True)


def scored_clauses(
    reviews: pd.DataFrame,
    model: SentimentModel | None = None,
    mode: SentimentMode = "fast",
    review_p_pos: np.ndarray | None = None,
) -> pd.DataFrame:
    """review_id, clause, p_pos, review_p_pos — every clause of `reviews` (review_id, text), scored on
    its own, with its whole review's P(pos) (`review_p_pos` when the caller has scored the reviews).

    `mode="accurate"` scores clauses with the e5 head (~100 clauses/s on 2 cores, every clause
    embedded): it reads some clauses the n-grams miss, such as "customer service never replied" (fast
    0.35, a neutral mention; accurate 0.12, a complaint). Clauses are never adapted to the batch: that
    was measured on whole reviews only."""
    clauses = split_clauses(reviews)
    if clauses.empty:
        return clauses.assign(p_pos=pd.Series(dtype=float), review_p_pos=pd.Series(dtype=float))
    model = model or load_model()
    if review_p_pos is None:
        review_p_pos, _ = model.positive_proba(reviews.text.fillna("").astype(str).tolist(), mode=mode)
    clauses["p_pos"], _ = model.positive_proba(clauses.clause.tolist(), mode=mode, adapt=False)
    by_review = pd.Series(np.asarray(review_p_pos, dtype=float), index=reviews.review_id.to_numpy())
    clauses["review_p_pos"] = clauses.review_id.map(by_review[~by_review.index.duplicated()]).to_numpy()
    return clauses


def clause_labels(p_pos: pd.Series, review_p_pos: pd.Series | None = None) -> np.ndarray:
    """'pos' | 'neg' | 'neutral' per clause: a clause with no clear opinion is neither praise nor a
    complaint, and a mildly negative clause of a review read as positive is no complaint either."""
    complaint = p_pos < 0.5 - NEUTRAL_BAND
    if review_p_pos is not None:
        complaint &= ~((review_p_pos >= 0.5) & (p_pos >= POSITIVE_REVIEW_COMPLAINT))
    return np.select([p_pos >= 0.5 + NEUTRAL_BAND, complaint], ["pos", "neg"], "neutral")


MENTION_COLUMNS = ["review_id", "aspect", "clause", "p_pos", "label", "via"]


def no_mentions() -> pd.DataFrame:
    """An empty mentions frame with the columns' types, so concatenating it changes no dtype."""
    return pd.DataFrame({c: pd.Series(dtype=float if c == "p_pos" else object) for c in MENTION_COLUMNS})


def lexicon_mentions(
    clauses: pd.DataFrame, *, use_embeddings: bool = False, min_similarity: float = 0.86
) -> pd.DataFrame:
    """review_id, aspect, clause, p_pos, label, via ('lexicon' | 'embedding') — one row per mention of
    a lexicon aspect among `scored_clauses`; a clause may mention several."""
    if clauses.empty:
        return no_mentions()
    aspects = load_aspects()
    lowered = clauses.clause.str.lower()
    found = []
    named = np.zeros(len(clauses), dtype=bool)  # by clause position: which clauses a term matched
    for aspect in aspects:
        hit = lowered.str.contains(aspect.pattern(), regex=True).to_numpy()
        named |= hit
        found.append(clauses[hit].assign(aspect=aspect.key, via="lexicon"))
    if use_embeddings:
        found.append(_nearest_aspect(clauses[~named], aspects, min_similarity))
    mentions = pd.concat(found, ignore_index=True)
    mentions["label"] = clause_labels(mentions.p_pos, mentions.get("review_p_pos"))
    return mentions[MENTION_COLUMNS]


def aspect_mentions(
    reviews: pd.DataFrame,
    *,
    model: SentimentModel | None = None,
    mode: SentimentMode = "fast",
    use_embeddings: bool = False,
    min_similarity: float = 0.86,
) -> pd.DataFrame:
    """`lexicon_mentions` of `reviews` (review_id, text); each clause is scored once (`scored_clauses`),
    each review once more for its clauses' labels."""
    return lexicon_mentions(
        scored_clauses(reviews, model, mode), use_embeddings=use_embeddings, min_similarity=min_similarity
    )


def _nearest_aspect(clauses: pd.DataFrame, aspects: tuple[Aspect, ...], floor: float) -> pd.DataFrame:
    """Clauses that name no lexicon term, assigned to the nearest aspect prototype when close enough."""
    from marketpilot.embed import embed

    if clauses.empty:
        return clauses.assign(aspect=pd.Series(dtype=str), via=pd.Series(dtype=str))
    prototypes = embed([a.prototype for a in aspects], kind="query")
    vectors = embed(clauses.clause.tolist(), kind="query")
    similarity = vectors @ prototypes.T
    best = similarity.argmax(axis=1)
    keep = similarity[np.arange(len(best)), best] >= floor
    keys = np.array([a.key for a in aspects])
    return clauses[keep].assign(aspect=keys[best[keep]], via="embedding")


class AspectStat(BaseModel):
    """How often one aspect is mentioned in a group of reviews, and how it is judged."""

    aspect: str
    name: str
    mentions: int = Field(description="positive + negative + neutral")
    positive: int
    negative: int
    neutral: int = Field(default=0, description="mentions with no clear opinion (aspects.clause_labels)")
    share_positive: float = Field(description="positive / (positive + negative); 0.5 when both are 0")
    praise_examples: list[str]
    complaint_examples: list[str]
    named_by: Literal["lexicon", "llm"] = Field(
        default="lexicon", description="llm: an open aspect the LLM named (open_aspects.py)"
    )


def summarise_aspects(mentions: pd.DataFrame, lang: str = "zh", examples: int = 3) -> list[AspectStat]:
    """One AspectStat per mentioned aspect, most-mentioned first; examples are the most confident clauses."""
    by_key = {a.key: a for a in load_aspects()}
    stats = []
    counts = mentions.groupby("aspect").label.value_counts().unstack(fill_value=0)
    for key, row in counts.iterrows():
        pos, neg, neutral = int(row.get("pos", 0)), int(row.get("neg", 0)), int(row.get("neutral", 0))
        mine = mentions[mentions.aspect == key].drop_duplicates("clause")
        praise = mine[mine.label == "pos"].nlargest(examples, "p_pos").clause.tolist()
        complaints = mine[mine.label == "neg"].nsmallest(examples, "p_pos").clause.tolist()
        lexicon = by_key.get(str(key))
        stats.append(
            AspectStat(
                aspect=str(key),
                name=lexicon.name(lang) if lexicon else str(key),
                named_by="lexicon" if lexicon else "llm",
                mentions=pos + neg + neutral,
                positive=pos,
                negative=neg,
                neutral=neutral,
                share_positive=round(pos / (pos + neg), 4) if pos + neg else 0.5,
                praise_examples=praise,
                complaint_examples=complaints,
            )
        )
    return sorted(stats, key=lambda s: -s.mentions)


def aspect_table(mentions: pd.DataFrame, reviews: pd.DataFrame, by: str, examples: int = 2) -> pd.DataFrame:
    """One row per group (a `reviews` column such as product_id or category) × aspect: `pos`/`neg`/`neutral`
    counts and the most confident `praise_examples` / `complaint_examples` clauses of that group."""
    joined = mentions.merge(reviews[["review_id", by]], on="review_id")
    counts = joined.groupby([by, "aspect", "label"]).size().unstack("label", fill_value=0)
    counts = counts.reindex(columns=["pos", "neg", "neutral"], fill_value=0)
    unique = joined.drop_duplicates([by, "aspect", "clause"]).sort_values("p_pos", kind="stable")
    groups = [by, "aspect"]
    praise = (
        unique[unique.label == "pos"].groupby(groups).clause.agg(lambda c: c.iloc[::-1][:examples].tolist())
    )
    blame = unique[unique.label == "neg"].groupby(groups).clause.agg(lambda c: c[:examples].tolist())
    table = counts.join(praise.rename("praise_examples")).join(blame.rename("complaint_examples"))
    for col in ("praise_examples", "complaint_examples"):
        table[col] = [v if isinstance(v, list) else [] for v in table[col]]
    return table.reset_index().rename_axis(columns=None)


class GroupAspect(BaseModel):
    """One aspect within one group of reviews (a product of a category report)."""

    group: str
    aspect: str
    name: str
    positive: int
    negative: int
    neutral: int = 0
    praise_examples: list[str]
    complaint_examples: list[str]


def group_aspects(
    mentions: pd.DataFrame, reviews: pd.DataFrame, by: str, lang: str = "zh"
) -> list[GroupAspect]:
    """`aspect_table` as records, groups in order of their mentions, aspects likewise within a group."""
    if mentions.empty:
        return []
    names = {a.key: a.name(lang) for a in load_aspects()}
    table = aspect_table(mentions, reviews, by).assign(n=lambda t: t.pos + t.neg + t.neutral)
    table["group_n"] = table.groupby(by).n.transform("sum")
    table = table.sort_values(["group_n", by, "n"], ascending=[False, True, False], kind="stable")
    return [
        GroupAspect(
            group=str(row[by]),
            aspect=str(row.aspect),
            name=names.get(str(row.aspect), str(row.aspect)),
            positive=int(row.pos),
            negative=int(row.neg),
            neutral=int(row.neutral),
            praise_examples=row.praise_examples,
            complaint_examples=row.complaint_examples,
        )
        for _, row in table.iterrows()
    ]
