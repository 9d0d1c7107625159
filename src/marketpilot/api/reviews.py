"""/v1/reviews: sentiment of posted texts, and review insight over the store's reviews."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator

from marketpilot.analytics.reviews.insight import ReviewInsight
from marketpilot.api.auth import app_settings
from marketpilot.config import Settings

router = APIRouter(prefix="/reviews", tags=["reviews"])

# One request is one batch, answered while the client waits: the fast mode scores 100,000 texts in
# seconds; the accurate mode embeds every text (~15/s on 2 cores), the llm mode asks the LLM about
# most of them. Bigger jobs belong to `reviews sentiment` or `scale sentiment`.
MAX_TEXTS: dict[str, int] = {"fast": 100_000, "accurate": 5_000, "llm": 500}
# A review, however long: the longest in the shipped corpora is 5,283 characters (Amazon, en; zh 2,924).
# A longer "text" is a pasted file, which the fast mode reads every character of.
MAX_TEXT_CHARS = 10_000
# All texts together: about 10 s of the fast mode on 2 cores (measured: 10 M characters in 8 s), and
# 100,000 texts of 100 characters (the corpora average 68 zh, 132 en).
MAX_REQUEST_CHARS = 10_000_000


class SentimentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    texts: list[Annotated[str, Field(max_length=MAX_TEXT_CHARS)]] = Field(
        min_length=1,
        max_length=MAX_TEXTS["fast"],
        description="Review texts, zh or en (fast ≤ 100,000, accurate ≤ 5,000, llm ≤ 500 a request), "
        "each ≤ 10,000 characters, ≤ 10,000,000 in all.",
    )
    lang: Literal["auto", "zh", "en"] = "auto"
    mode: Literal["fast", "accurate", "llm"] = "fast"
    adapt: bool = Field(
        default=True,
        description="With 1,000+ texts of a language, also learn from the batch's own confident texts "
        "(as `reviews sentiment --adapt`); a text's score then depends on the rest of the batch.",
    )

    @model_validator(mode="after")
    def _fits_the_mode(self) -> SentimentRequest:
        if len(self.texts) > MAX_TEXTS[self.mode]:
            raise ValueError(
                f"mode {self.mode} takes at most {MAX_TEXTS[self.mode]:,} texts a request, got "
                f"{len(self.texts):,}; use `marketpilot scale sentiment` for big jobs"
            )
        if (chars := sum(map(len, self.texts))) > MAX_REQUEST_CHARS:
            raise ValueError(
                f"texts hold {chars:,} characters in all; a request takes at most {MAX_REQUEST_CHARS:,}: "
                "split the batch, or use `marketpilot scale sentiment` for big jobs"
            )
        return self


class ScoredText(BaseModel):
    label: Literal["pos", "neg"]
    probability: float = Field(description="Probability of the label given.")
    lang: Literal["zh", "en"]


class SentimentResponse(BaseModel):
    rows: int
    pos: int
    neg: int
    no_text: int = Field(
        default=0,
        description="Texts without words to read (blank, emoji, a rating, a link, 此用户未填写评价内容): "
        "probability 0.5, labelled pos as marketplaces count them.",
    )
    other_lang: int = Field(
        default=0, description="Texts mostly in Japanese or Korean, which no model reads: probability 0.5."
    )
    results: list[ScoredText]


@router.post("/sentiment")
def sentiment(
    request: SentimentRequest, settings: Annotated[Settings, Depends(app_settings)]
) -> SentimentResponse:
    """Label each text pos/neg with a probability (the shipped model; `mode` as the CLI's --mode)."""
    from marketpilot.analytics.reviews.sentiment import load_model, no_opinion, other_language

    scored = load_model().predict(
        request.texts, lang=request.lang, mode=request.mode, settings=settings, adapt=request.adapt
    )
    results = [
        ScoredText(label=label, probability=float(p), lang=lang)
        for label, p, lang in zip(scored.label, scored.probability, scored.lang, strict=True)
    ]
    pos = int((scored.label == "pos").sum())
    no_text = no_opinion(request.texts)
    return SentimentResponse(
        rows=len(results),
        pos=pos,
        neg=len(results) - pos,
        no_text=int(no_text.sum()),
        other_lang=int((other_language(request.texts) & ~no_text).sum()),
        results=results,
    )


@router.get("/insight")
def insight(
    settings: Annotated[Settings, Depends(app_settings)],
    product: Annotated[str | None, Query(description="One product id.")] = None,
    category: Annotated[str | None, Query(description="One category (类目).")] = None,
    lang: Annotated[Literal["zh", "en"] | None, Query(description="Default: the reviews' language.")] = None,
    llm: Annotated[bool, Query(description="Write the cited needs / pain points with the LLM.")] = True,
    mode: Annotated[Literal["fast", "accurate"], Query(description="How reviews are scored.")] = "fast",
) -> ReviewInsight:
    """Aspects, keywords, complaint clusters and cited needs / pain points (as `reviews insight`)."""
    from marketpilot.analytics.reviews.insight import review_insight

    return review_insight(settings, product, category, lang=lang, use_llm=llm, sentiment_mode=mode)
