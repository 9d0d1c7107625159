"""/v1/customers/{id}/recommendations and /v1/products/{id}/similar, from the last `recommend fit`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from marketpilot.api.auth import app_settings
from marketpilot.config import Settings

router = APIRouter(tags=["recommendations"])

K = Query(ge=1, le=100, description="How many products.")


class Recommendation(BaseModel):
    product_id: str
    name: str | None
    rank: int
    score: float
    reason: str
    reason_product_id: str | None
    reason_zh: str
    reason_en: str
    # False: the id is in neither the last fit nor the store (a visitor not yet synced, or a typo);
    # the list is the shop's popular one.
    known_customer: bool


class SimilarProduct(BaseModel):
    product_id: str
    name: str | None
    score: float


def _records(frame) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    # NaN (no name, no anchor product) is None in JSON
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


@router.get("/customers/{customer_id}/recommendations")
def recommendations(
    customer_id: str, settings: Annotated[Settings, Depends(app_settings)], k: Annotated[int, K] = 10
) -> list[Recommendation]:
    """One customer's top-k with a reason each; a customer new since the fit gets the cold-start
    ranking of their segment (as `recommend for`)."""
    from marketpilot.analytics.recommend.serving import recommendations_for

    return [Recommendation.model_validate(r) for r in _records(recommendations_for(settings, customer_id, k))]


@router.get("/products/{product_id}/similar")
def similar(
    product_id: str, settings: Annotated[Settings, Depends(app_settings)], k: Annotated[int, K] = 10
) -> list[SimilarProduct]:
    """Products similar to this one (co-purchase and, for new products, description)."""
    from marketpilot.analytics.recommend.serving import similar_products

    return [SimilarProduct.model_validate(r) for r in _records(similar_products(settings, product_id, k))]
