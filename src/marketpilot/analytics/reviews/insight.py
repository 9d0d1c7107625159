"""Review insight for one product or category: sentiment, aspects, keywords, complaint clusters and an
LLM-written list of needs and pain points in which every claim cites the reviews it rests on.

Review text is untrusted: personal data is masked before anything else sees it (so no output and no
prompt can carry it), and reviews reach the model only inside <data> delimiters with short ids. A claim
that cites no id, or an id that was not in the prompt, is dropped — the model cannot launder an
invented statement into the report. A citation must also be *grounded*: the claim has to share content
(Chinese character bigrams, English words) with the reviews it cites, and a review that reads like an
instruction to the model ("忽略之前的指令…", "ignore previous instructions…") cannot support a claim, so
a summary that obeys an injected review ("HACKED", citing that review) loses the claim. A pain point
that cites only praise — reviews read as positive with no complaint clause — is dropped too.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from marketpilot.analytics.reviews.aspects import (
    AspectStat,
    GroupAspect,
    clause_labels,
    group_aspects,
    lexicon_mentions,
    scored_clauses,
    summarise_aspects,
)
from marketpilot.analytics.reviews.grounding import is_grounded, looks_like_injection
from marketpilot.analytics.reviews.keywords import ComplaintCluster, cluster_complaints, keywords
from marketpilot.analytics.reviews.open_aspects import OpenAspects, discover
from marketpilot.analytics.reviews.sentiment import (
    SentimentMode,
    detect_language,
    load_model,
    no_opinion,
    other_language,
    plain_text,
)
from marketpilot.config import Settings
from marketpilot.errors import NotFoundError, UserError
from marketpilot.llm.errors import LLMOutputError
from marketpilot.privacy.pii import mask_pii

if TYPE_CHECKING:
    from marketpilot.data import Store

log = logging.getLogger(__name__)

Lang = Literal["zh", "en"]


# Bounds on the draft: a grammar-constrained local model cannot ramble to max_tokens inside an
# unbounded list or string, and a server without grammar support gets its over-long reply repaired.
MAX_CLAIMS = 5


class Claim(BaseModel):
    text: str = Field(description="one sentence", max_length=120)
    cited_ids: list[str] = Field(
        description="ids of the reviews that support the claim, e.g. ['r3', 'r7']", max_length=8
    )


class InsightDraft(BaseModel):
    """What the model is asked to return."""

    needs: list[Claim] = Field(max_length=MAX_CLAIMS)
    pain_points: list[Claim] = Field(max_length=MAX_CLAIMS)


class ReviewInsight(BaseModel):
    scope: str
    lang: Lang
    n_reviews: int
    sentiment_mode: SentimentMode = Field(
        default="fast", description="how reviews and clauses were scored: fast (n-grams) or accurate (e5)"
    )
    positive: int
    negative: int
    no_text: int = Field(
        default=0,
        description="reviews without words to read: blank, only emoji, punctuation, a rating, a link or "
        "markup, marketplace placeholders (此用户未填写评价内容): not analysed",
    )
    other_lang: int = Field(
        default=0, description="reviews mostly in Japanese or Korean, which no model reads: not analysed"
    )
    share_positive: float = Field(description="positive / (positive + negative)")
    aspects: list[AspectStat]
    by_product: list[GroupAspect] = Field(
        default=[], description="aspect counts and examples per product, when the reviews cover several"
    )
    selling_points: list[str] = Field(description="praised aspects, most praised first (for copywriting)")
    keywords: list[str]
    complaint_clusters: list[ComplaintCluster]
    needs: list[Claim]
    pain_points: list[Claim]
    dropped_claims: int = Field(
        description="LLM claims dropped: no citation, an unknown id, not grounded in the cited reviews, "
        "or a pain point citing only praise (insight.praise_only)"
    )
    open_aspects: list[str] = Field(default=[], description="aspects beyond the lexicon the LLM named")
    dropped_open_aspects: int = Field(
        default=0, description="aspects the LLM named that were dropped (see open_aspects.verify_aspects)"
    )
    llm_model: str | None = None
    llm_error: str | None = Field(
        default=None, description="why an LLM part is missing (the model never gave valid output)"
    )


def mask_reviews(reviews: pd.DataFrame) -> pd.DataFrame:
    """PII masked, and the export's markup, links and 追评 markers gone (`plain_text`): "<br>" was a
    keyword, and the clauses it joins were one."""
    return reviews.assign(text=[mask_pii(plain_text(t)) for t in reviews.text.fillna("").astype(str)])


def verify_claims(
    claims: list[Claim],
    id_map: dict[str, str],
    texts: dict[str, str],
    said: set[str] | None = None,
    praise: set[str] | None = None,
) -> tuple[list[Claim], int]:
    """Keep claims whose citations are all known and that rest on what the cited (non-instruction)
    reviews say; map short prompt ids back to review ids. `texts`: short id -> the text sent.
    `said` collects the texts kept so far: a small model repeats a claim, in one list or both.
    `praise`: short ids of reviews that are praise only (`praise_only`), for pain points: a claim citing
    only those is dropped ("质量杠杠的！" is no pain point)."""
    said = set() if said is None else said
    kept, dropped = [], 0
    for claim in claims:
        cited, text = [c.strip() for c in claim.cited_ids], claim.text.strip()
        if not cited or any(c not in id_map for c in cited) or not text or text in said:
            dropped += 1
            continue
        cited = [c for c in cited if not looks_like_injection(texts[c])]
        if not cited or not is_grounded(text, [texts[c] for c in cited]) or set(cited) <= (praise or set()):
            dropped += 1
            continue
        said.add(text)
        kept.append(Claim(text=mask_pii(text), cited_ids=[id_map[c] for c in dict.fromkeys(cited)]))
    return kept, dropped


def praise_only(reviews: pd.DataFrame, p_pos: np.ndarray, clauses: pd.DataFrame) -> set[str]:
    """Ids of `reviews` read as positive in which no clause is a complaint (`clause_labels`)."""
    complained = clauses.review_id[clause_labels(clauses.p_pos, clauses.review_p_pos) == "neg"]
    return set(reviews.review_id[(p_pos >= 0.5) & ~reviews.review_id.isin(complained)].astype(str))


def pick_for_llm(reviews: pd.DataFrame, p_pos: np.ndarray, limit: int) -> pd.DataFrame:
    """The most clearly negative and most clearly positive reviews, half each (short ones cost less)."""
    ranked = reviews.assign(p_pos=p_pos).sort_values("p_pos", kind="stable")
    half = max(1, limit // 2)
    return pd.concat([ranked.head(half), ranked.tail(limit - half)]).drop_duplicates("review_id")


def summarise_needs(
    reviews: pd.DataFrame,
    p_pos: np.ndarray,
    *,
    settings: Settings,
    lang: Lang,
    scope: str,
    max_reviews: int = 30,
    max_claims: int = MAX_CLAIMS,
    max_chars: int = 160,
    praise: set[str] | None = None,
) -> tuple[list[Claim], list[Claim], int, str]:
    """(needs, pain_points, dropped, model) from the LLM; `reviews` must already be PII-masked.
    `praise`: review ids that cannot support a pain point (`praise_only`)."""
    from marketpilot.llm import get_client, load_prompt

    chosen = pick_for_llm(reviews, p_pos, max_reviews)
    short_ids = [f"r{i + 1}" for i in range(len(chosen))]
    id_map = dict(zip(short_ids, chosen.review_id.astype(str), strict=True))
    items = [{"id": s, "text": t[:max_chars]} for s, t in zip(short_ids, chosen.text, strict=True)]
    prompt = load_prompt("review_insight", lang)
    messages = prompt.render(reviews=items, scope=scope, max_claims=max_claims)
    completion = get_client(settings).complete(
        messages, schema=InsightDraft, temperature=0.2, max_tokens=700, seed=0, prompt=prompt.ref
    )
    draft: InsightDraft = completion.parsed
    sent = {item["id"]: item["text"] for item in items}
    praised = {s for s, r in id_map.items() if r in (praise or set())}
    said: set[str] = set()
    needs, dropped_needs = verify_claims(draft.needs[:max_claims], id_map, sent, said)
    pains, dropped_pains = verify_claims(draft.pain_points[:max_claims], id_map, sent, said, praised)
    return needs, pains, dropped_needs + dropped_pains, completion.model


def analyse_reviews(
    reviews: pd.DataFrame,
    *,
    scope: str | Mapping[Lang, str],
    lang: Lang | None = None,
    settings: Settings | None = None,
    use_llm: bool = True,
    use_clusters: bool = True,
    aspect_embeddings: bool = False,
    open_aspects: bool = False,
    sentiment_mode: SentimentMode = "fast",
    max_complaints: int = 120,
) -> ReviewInsight:
    """Insight over `reviews` (columns review_id, text). `settings` is needed for the LLM parts;
    `aspect_embeddings` also gives clauses that name no lexicon term their nearest aspect (slower);
    `open_aspects` lets the LLM name the aspects the lexicon lacks (`open_aspects.discover`);
    `sentiment_mode="accurate"` scores reviews and clauses with the e5 head (every clause embedded,
    ~100 clauses/s on 2 cores; better on products and wording the corpora lack). `scope` may name
    the reviews in each language, for a report in the language the reviews turn out to be in."""
    named = {"zh": scope, "en": scope} if isinstance(scope, str) else scope
    scope = named["en"]  # the errors below are in English
    missing = {"review_id", "text"} - set(reviews.columns)
    if missing:
        raise UserError(f"reviews lack column(s) {sorted(missing)}")
    if reviews.empty:
        raise NotFoundError(f"no reviews for {scope}", hint="load reviews first: marketpilot load …")
    if (use_llm or open_aspects) and settings is None:
        raise UserError("the LLM parts of the insight need settings", hint="pass settings=get_settings(home)")
    # A placeholder is no buyer's opinion: counting it as praise would inflate the share and the
    # selling points, so it is counted apart and left out of everything else.
    raw = reviews.text.fillna("").astype(str).tolist()
    no_text = no_opinion(raw)
    foreign = other_language(raw) & ~no_text  # no model reads them: a guess would skew the counts
    silent = no_text | foreign
    if silent.all():
        other = f"; {int(foreign.sum())} of them in Japanese or Korean" if foreign.any() else ""
        raise NotFoundError(
            f"the {len(reviews)} reviews for {scope} are all blank or marketplace placeholders (or only "
            f"emoji, a rating, a link){other}",
            hint="there is no Chinese or English review text to analyse",
        )
    reviews = mask_reviews(reviews[~silent].assign(review_id=lambda r: r.review_id.astype(str)))
    texts = reviews.text.tolist()
    if lang is None:
        lang = "zh" if (detect_language(texts) == "zh").mean() >= 0.5 else "en"
    scope = named[lang]
    p_pos, _ = load_model().positive_proba(texts, mode=sentiment_mode)
    positive = int((p_pos >= 0.5).sum())
    clauses = scored_clauses(reviews, mode=sentiment_mode, review_p_pos=p_pos)
    mentions = lexicon_mentions(clauses, use_embeddings=aspect_embeddings)
    clusters: list[ComplaintCluster] = []
    if use_clusters:
        worst = np.argsort(p_pos, kind="stable")[: min(max_complaints, len(texts) - positive)]
        clusters = cluster_complaints(reviews.review_id.iloc[worst].tolist(), [texts[i] for i in worst], lang)
    needs: list[Claim] = []
    pains: list[Claim] = []
    dropped, model, errors = 0, None, []
    found = OpenAspects(names=[], dropped=0, model="")
    # Malformed model output costs only the part that asked for it: the measured parts still stand.
    if open_aspects and settings is not None:
        try:
            found, open_mentions = discover(clauses, mentions, settings, lang, scope)
            mentions = pd.concat([mentions, open_mentions], ignore_index=True)
            model = found.model
        except LLMOutputError as exc:
            log.warning("review insight for %s without open aspects: %s", scope, exc)
            errors.append(str(exc))
    if use_llm and settings is not None:
        try:
            needs, pains, dropped, model = summarise_needs(
                reviews,
                p_pos,
                settings=settings,
                lang=lang,
                scope=scope,
                praise=praise_only(reviews, p_pos, clauses),
            )
        except LLMOutputError as exc:
            log.warning("review insight for %s without the LLM summary: %s", scope, exc)
            errors.append(str(exc))
    stats = summarise_aspects(mentions, lang)
    by_product = []
    if "product_id" in reviews and reviews.product_id.nunique() > 1:
        by_product = group_aspects(
            mentions, reviews.assign(product_id=reviews.product_id.astype(str)), "product_id", lang
        )
    praised = sorted((s for s in stats if s.positive > s.negative), key=lambda s: -s.positive)
    return ReviewInsight(
        scope=scope,
        lang=lang,
        n_reviews=len(reviews) + int(silent.sum()),
        sentiment_mode=sentiment_mode,
        positive=positive,
        negative=len(reviews) - positive,
        no_text=int(no_text.sum()),
        other_lang=int(foreign.sum()),
        share_positive=round(positive / len(reviews), 4),
        aspects=stats,
        by_product=by_product,
        selling_points=[s.name for s in praised],
        keywords=keywords(texts, lang),
        complaint_clusters=clusters,
        needs=needs,
        pain_points=pains,
        dropped_claims=dropped,
        open_aspects=found.names,
        dropped_open_aspects=found.dropped,
        llm_model=model,
        llm_error="\n".join(errors) or None,
    )


def load_reviews(settings: Settings, product: str | None = None, category: str | None = None) -> pd.DataFrame:
    """review_id, product_id, text, rating, category from the store, filtered to one product or category."""
    from marketpilot.data import Store

    if product and category:
        raise UserError("give a product or a category, not both")
    where, params = "", []
    if product:
        where, params = "WHERE r.product_id = ?", [product]
    elif category:
        where, params = "WHERE p.category = ?", [category]
    sql = (
        "SELECT r.review_id, r.product_id, r.text, r.rating, p.category "
        f'FROM "reviews" r LEFT JOIN "products" p USING (product_id) {where} ORDER BY r.review_id'
    )
    with Store.open(settings, read_only=True) as store:
        reviews = store.query(sql, params)
        if reviews.empty and product:  # an unknown id is a typo, not a product without reviews
            if store.query('SELECT 1 FROM "products" WHERE product_id = ? LIMIT 1', params).empty:
                raise NotFoundError(
                    f"no product {product!r} in the catalogue",
                    hint="check the id; load products first: marketpilot load products FILE",
                )
        elif reviews.empty and category:
            _explain_empty_category(store, category)
        return reviews


def _explain_unreviewed_product(settings: Settings, product: str) -> None:
    from marketpilot.data import Store

    with Store.open(settings, read_only=True) as store:
        stored = store.count("reviews")
    raise NotFoundError(
        f"no reviews for product {product}: it is in the catalogue but has no review"
        + (f"; the store's {stored} reviews are of other products" if stored else ""),
        hint="load its reviews: marketpilot load reviews FILE (product_id must match the "
        "catalogue's), or look at its category with --category",
    )


def _explain_empty_category(store: Store, category: str) -> None:
    """Raise why `category` has no reviews: no such category (a typo: name some that exist, those with
    the most reviews first), or products none of which has a review."""
    products = int(store.query('SELECT count(*) AS n FROM "products" WHERE category = ?', [category]).n[0])
    if products:
        stored = store.count("reviews")
        elsewhere = f"; the store's {stored} reviews are of other products" if stored else ""
        raise NotFoundError(
            f"no reviews for category {category}: it has {products} product(s), none of which has a "
            f"review{elsewhere}",
            hint="load its reviews: marketpilot load reviews FILE (product_id must match the "
            "catalogue's), or pick another category",
        )
    known = store.query(
        'SELECT p.category, count(r.review_id) AS n FROM "products" p LEFT JOIN "reviews" r '
        "USING (product_id) WHERE p.category IS NOT NULL GROUP BY p.category ORDER BY n DESC, p.category"
    )
    if known.empty:
        hint = "the catalogue has no categories; load products first: marketpilot load products FILE"
    else:
        names = known.category.astype(str).tolist()
        # a near miss (手机 for 手机壳, a case slip) first, then those with the most reviews
        close = difflib.get_close_matches(category, names, n=3, cutoff=0.5)
        shown = [*close, *(n for n in names if n not in close)][:5]
        reviews = dict(zip(names, known.n.astype(int), strict=True))
        more = f" and {len(names) - len(shown)} more" if len(names) > len(shown) else ""
        hint = "known categories: " + ", ".join(f"{n} ({reviews[n]} reviews)" for n in shown) + more
    raise NotFoundError(f"no category {category!r} in the catalogue", hint=hint)


def review_insight(
    settings: Settings,
    product: str | None = None,
    category: str | None = None,
    *,
    lang: Lang | None = None,
    use_llm: bool = True,
    open_aspects: bool = False,
    sentiment_mode: SentimentMode = "fast",
) -> ReviewInsight:
    """Insight for one product, one category, or (neither given) every review in the store."""
    if lang not in (None, "zh", "en"):  # else a pydantic traceback once every review was scored
        raise UserError(f"lang must be 'zh' or 'en', got {lang!r}.")
    reviews = load_reviews(settings, product, category)
    if reviews.empty and product:  # in the catalogue (load_reviews refuses an unknown id), unreviewed
        _explain_unreviewed_product(settings, product)
    # both languages: with `lang` None the reviews' own language picks the report's
    scope: dict[Lang, str] = {
        "en": f"product {product}" if product else f"category {category}" if category else "all products",
        "zh": f"商品 {product}" if product else f"类目 {category}" if category else "全部商品",
    }
    return analyse_reviews(
        reviews,
        scope=scope if lang is None else scope[lang],
        lang=lang,
        settings=settings,
        use_llm=use_llm,
        open_aspects=open_aspects,
        sentiment_mode=sentiment_mode,
    )
