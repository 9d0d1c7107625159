"""/v1/decisions: uplift targeting, budget split and price positioning over JSON rows — the rows are
written to a temporary Parquet file and go through the same functions as `marketpilot decide`, so
the API and the CLI give the same figures and leave the same files under <home>/decisions/ — and
coupon design over the store's own orders."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Literal

import pandas as pd
from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from marketpilot.analytics.budget import BudgetPlan
from marketpilot.analytics.pricing import PricingReport
from marketpilot.analytics.promo import PromoPlan, PromoSpec
from marketpilot.analytics.uplift import UpliftReport
from marketpilot.api.auth import app_settings
from marketpilot.config import Settings
from marketpilot.errors import NotFoundError, UserError

router = APIRouter(prefix="/decisions", tags=["decisions"])
AppSettings = Annotated[Settings, Depends(app_settings)]
Cell = str | float | int | bool | None
MAX_ROWS = 200_000


class UpliftRequest(BaseModel):
    rows: list[dict[str, Cell]] = Field(min_length=1, max_length=MAX_ROWS, description="one per customer")
    treatment_col: str
    control: str
    outcome_col: str
    features: list[str] = Field(min_length=1)
    id_col: str | None = None
    value: float = Field(1.0, gt=0)
    costs: dict[str, float] = Field(default_factory=dict)
    top: float | None = Field(None, gt=0, le=1)


class PriceRequest(BaseModel):
    rows: list[dict[str, Cell]] = Field(min_length=1, max_length=MAX_ROWS, description="product × competitor")
    product_col: str = "product_id"
    title_col: str | None = None
    brand_col: str | None = Field(default=None, description="the listing's brand, with title_col")
    competitor_col: str = "competitor"
    price_col: str = "price"
    date_col: str | None = None
    currency_col: str | None = None
    band: float = Field(0.03, ge=0, lt=0.5)
    min_margin: float = 0.1


class BudgetRequest(BaseModel):
    rows: list[dict[str, Cell]] = Field(min_length=1, max_length=MAX_ROWS, description="channel × period")
    total: float = Field(gt=0)
    channel_col: str = "channel"
    spend_col: str = "spend"
    outcome_col: str = "revenue"
    period_col: str | None = None
    event_col: str | None = Field(default=None, description="marks festival / sale periods (1/0 or a name)")
    for_event: bool = Field(default=False, description="split for an event period")
    minimum: dict[str, float] = Field(default_factory=dict)
    max_scale: float = Field(2.0, gt=0)


def _as_file(rows: list[dict[str, Cell]], folder: str) -> Path:
    path = Path(folder) / "rows.parquet"
    try:
        pd.DataFrame(rows).to_parquet(path, index=False)
    except (ValueError, TypeError) as exc:  # mixed types in one column, say
        raise UserError(f"the rows do not form a table: {exc}") from None
    return path


@router.post("/uplift")
def uplift(request: UpliftRequest, settings: AppSettings) -> UpliftReport:
    """Who should get which treatment: held-out Qini and policy values from a past randomised test;
    scores per customer are written under <home>/decisions/uplift/."""
    from marketpilot.analytics.uplift import Experiment, fit_experiment

    with tempfile.TemporaryDirectory() as folder:
        spec = request.model_dump(exclude={"rows"})
        experiment = Experiment(path=_as_file(request.rows, folder), **spec)
        return fit_experiment(experiment, settings)


@router.post("/price")
def price(request: PriceRequest, settings: AppSettings) -> PricingReport:
    """The catalogue's prices against the competitors' prices in `rows`."""
    from marketpilot.analytics.pricing import CompetitorFile, price_report

    with tempfile.TemporaryDirectory() as folder:
        columns = request.model_dump(exclude={"rows", "band", "min_margin"})
        spec = CompetitorFile(path=_as_file(request.rows, folder), **columns)
        return price_report(settings, spec, band=request.band, min_margin=request.min_margin)


@router.post("/budget")
def budget(request: BudgetRequest, settings: AppSettings) -> BudgetPlan:
    """Split `total` across the channels in `rows` by their fitted response curves."""
    from marketpilot.analytics.budget import HistoryFile, plan_budget

    with tempfile.TemporaryDirectory() as folder:
        columns = request.model_dump(
            include={"channel_col", "spend_col", "outcome_col", "period_col", "event_col"}
        )
        spec = HistoryFile(path=_as_file(request.rows, folder), **columns)
        return plan_budget(
            spec,
            request.total,
            floors=request.minimum,
            max_scale=request.max_scale,
            for_event=request.for_event,
            settings=settings,
        )


@router.post("/promo")
def promo(request: PromoSpec, settings: AppSettings) -> PromoPlan:
    """A 满减 coupon per customer group from the store's orders: threshold, depths, break-even lift."""
    from marketpilot.analytics.promo import plan_promotions

    return plan_promotions(settings, request)


@router.get("/{kind}")
def last(
    kind: Literal["uplift", "price", "budget", "promo"], settings: AppSettings
) -> UpliftReport | PricingReport | BudgetPlan | PromoPlan:
    """The last decision of this kind (from the API or `marketpilot decide`)."""
    path = settings.home_dir / "decisions" / kind / "summary.json"
    if not path.exists():
        raise NotFoundError(f"No {kind} decision yet.", hint=f"Run: marketpilot decide {kind} …")
    model = {"uplift": UpliftReport, "price": PricingReport, "budget": BudgetPlan, "promo": PromoPlan}[kind]
    return model.model_validate_json(path.read_text(encoding="utf-8"))
