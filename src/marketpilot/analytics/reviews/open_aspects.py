"""Open aspects: what reviews talk about beyond the lexicon (a hotel's 早餐, a book's 翻译), named by the LLM.

The lexicon (data/aspects.yaml) holds the aspects every shop shares; each category has its own too.
Clauses that name no lexicon aspect are sampled — spread over the batch by k-means on their
embeddings, so one frequent topic cannot fill the prompt — and sent to the LLM inside <data> with
short ids. The model names at most `MAX_ASPECTS` aspects, each citing the clauses that mention it. An
aspect is kept only when
- it cites only clauses that were in the prompt, and at least one of them is about it: shares content
  with its name and does not read like an instruction (so "HACKED" cannot be an aspect); citations that
  fail this are discarded one by one;
- it is no lexicon aspect under another word (its name matches no lexicon term), not the product
  itself or a verdict (商品, 推荐, overall), and no repeat.
A clause mentions a kept aspect when it contains the aspect's name or is one of its kept citations;
its sentiment is the clause's own score, as for the lexicon aspects. One LLM call per report, whatever
the number of reviews.
"""

from __future__ import annotations

import re
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from marketpilot.analytics.reviews.aspects import MENTION_COLUMNS, clause_labels, load_aspects, no_mentions
from marketpilot.analytics.reviews.grounding import is_grounded, looks_like_injection
from marketpilot.config import Settings

MAX_ASPECTS = 6
MAX_CLAUSES = 40  # clauses in the prompt: ~1,000 tokens, a few seconds of prompt evaluation embedded
POOL = 1500  # unmatched clauses embedded for the sampling; more only costs time
MIN_CHARS, MAX_CHARS = 4, 60  # shorter clauses name nothing; longer ones are cut at MAX_CHARS

Lang = Literal["zh", "en"]


class NamedAspect(BaseModel):
    name: str = Field(description="the aspect, 2-6 Chinese characters or 1-3 English words", max_length=20)
    cited_ids: list[str] = Field(
        description="ids of the clauses that mention it, e.g. ['c3', 'c9']", max_length=8
    )


class OpenAspectsDraft(BaseModel):
    """What the model is asked to return."""

    aspects: list[NamedAspect] = Field(max_length=MAX_ASPECTS)


class OpenAspects(BaseModel):
    """The kept aspects' names, how many the model named that were dropped, and the model used."""

    names: list[str]
    dropped: int
    model: str


def unmatched_clauses(clauses: pd.DataFrame, mentions: pd.DataFrame) -> pd.DataFrame:
    """The `clauses` that no lexicon (or embedding) mention claimed, of a useful length."""
    claimed = set(zip(mentions.review_id, mentions.clause, strict=True))
    keys = list(zip(clauses.review_id, clauses.clause, strict=True))
    free = clauses[[k not in claimed for k in keys]]
    return free[free.clause.str.len() >= MIN_CHARS].reset_index(drop=True)


def sample_clauses(clauses: pd.DataFrame, limit: int = MAX_CLAUSES, seed: int = 0) -> pd.DataFrame:
    """Up to `limit` distinct clauses spread over what the batch talks about: the clause nearest each
    k-means centre of their embeddings (a seeded sample of `POOL` when there are more)."""
    from sklearn.cluster import KMeans

    from marketpilot.embed import embed

    distinct = clauses.drop_duplicates("clause")
    if len(distinct) <= limit:
        return distinct.reset_index(drop=True)
    pool = distinct.sample(n=min(POOL, len(distinct)), random_state=seed).reset_index(drop=True)
    vectors = embed(pool.clause.str.slice(0, MAX_CHARS).tolist(), kind="query")
    km = KMeans(n_clusters=limit, n_init=1, random_state=seed).fit(vectors)
    distance = km.transform(vectors)  # (clauses, centres)
    nearest = {int(np.argmin(np.where(km.labels_ == k, distance[:, k], np.inf))) for k in range(limit)}
    return pool.iloc[sorted(nearest)].reset_index(drop=True)


# Names that are the product itself or a verdict, not an aspect of it.
_GENERIC = re.compile(
    r"商品|产品|东西|宝贝|整体|总体|体验|推荐|好评|差评|评价|满意|感觉|"
    r"(?:the )?(?:products?|items?|overall|experience|recommendations?|reviews?|satisfaction)"
)


def _is_lexicon_aspect(name: str) -> bool:
    lowered = name.lower()
    return any(re.search(a.pattern(), lowered) for a in load_aspects())


def verify_aspects(
    aspects: list[NamedAspect], sent: dict[str, str]
) -> tuple[list[tuple[str, list[str]]], int]:
    """([(name, cited short ids)], dropped): the named aspects that pass the module's checks."""
    kept: list[tuple[str, list[str]]] = []
    dropped = 0
    for aspect in aspects:
        name = aspect.name.strip()
        cited = list(dict.fromkeys(c.strip() for c in aspect.cited_ids))
        unknown = not cited or any(c not in sent for c in cited)
        # Each citation must itself be about the name: the small embedded model cites runs of ids
        # (c1…c8) of which one or two fit.
        cited = [
            c
            for c in cited
            if c in sent and not looks_like_injection(sent[c]) and is_grounded(name, [sent[c]])
        ]
        if (
            unknown
            or not name
            or not cited
            or _GENERIC.fullmatch(name.lower())
            or _is_lexicon_aspect(name)
            or name.lower() in {n.lower() for n, _ in kept}
        ):
            dropped += 1
            continue
        kept.append((name, cited))
    return kept, dropped


def discover(
    clauses: pd.DataFrame, mentions: pd.DataFrame, settings: Settings, lang: Lang, scope: str
) -> tuple[OpenAspects, pd.DataFrame]:
    """(the kept aspects, their mentions: review_id, aspect, clause, p_pos, label, via='llm').

    `clauses` (review_id, clause, p_pos, review_p_pos; PII-masked) are every scored clause and `mentions` the
    lexicon's: the prompt samples the clauses no lexicon aspect claimed, but an open aspect is counted
    in every clause that names it ("早餐很贵" is about 价格 and 早餐 alike)."""
    from marketpilot.llm import get_client, load_prompt

    clauses = clauses[~clauses.clause.map(looks_like_injection).astype(bool)]  # bool even when empty
    chosen = sample_clauses(unmatched_clauses(clauses, mentions))
    if chosen.empty:  # every clause names a lexicon aspect, or none is long enough: nothing to ask
        return OpenAspects(names=[], dropped=0, model=""), no_mentions()
    short_ids = [f"c{i + 1}" for i in range(len(chosen))]
    sent = dict(zip(short_ids, chosen.clause.str.slice(0, MAX_CHARS), strict=True))
    prompt = load_prompt("review_open_aspects", lang)
    messages = prompt.render(
        clauses=[{"id": s, "text": t} for s, t in sent.items()], scope=scope, max_aspects=MAX_ASPECTS
    )
    completion = get_client(settings).complete(
        messages, schema=OpenAspectsDraft, temperature=0.2, max_tokens=400, seed=0, prompt=prompt.ref
    )
    kept, dropped = verify_aspects(completion.parsed.aspects, sent)
    position = dict(zip(short_ids, range(len(chosen)), strict=True))
    found = []
    lowered = clauses.clause.str.lower()
    for name, cited in kept:
        named = lowered.str.contains(name.lower(), regex=False)
        found.append(clauses[named].assign(aspect=name))
        found.append(chosen.iloc[[position[c] for c in cited]].assign(aspect=name))  # paraphrases
    if not found:
        return OpenAspects(names=[], dropped=dropped, model=completion.model), no_mentions()
    mentions = pd.concat(found, ignore_index=True).drop_duplicates(["review_id", "aspect", "clause"])
    mentions = mentions.assign(label=clause_labels(mentions.p_pos, mentions.get("review_p_pos")), via="llm")
    names = [name for name, _ in kept]
    return OpenAspects(names=names, dropped=dropped, model=completion.model), mentions[MENTION_COLUMNS]
