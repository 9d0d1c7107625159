"""/v1/decisions: uplift targeting, budget split and price positioning over JSON rows — the rows are
written to a temporary Parquet file and go through the same functions as `marketpilot decide`, so
the API and the CLI give the same figures and leave the same files under <home>/decisions/ — and
coupon design over the store's own orders."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Literal

import pandas as pd
from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from marketpilot.analytics.budget import BudgetPlan
from marketpilot.analytics.pricing import PricingReport
from marketpilot.analytics.promo import PromoPlan, PromoSpec
from marketpilot.analytics.uplift import UpliftReport
from marketpilot.api.auth import app_settings
from marketpilot.api.paths import home_relative
from marketpilot.config import Settings
from marketpilot.errors import NotFoundError, UserError, ValidationFailed

router = APIRouter(prefix="/decisions", tags=["decisions"])
AppSettings = Annotated[Settings, Depends(app_settings)]
Cell = str | float | int | bool | None
MAX_ROWS = 200_000


class _Request(BaseModel):
    # An unknown field is a typo the caller should hear about; NaN and infinities are no amounts.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class UpliftRequest(_Request):
    rows: list[dict[str, Cell]] = Field(min_length=1, max_length=MAX_ROWS, description="one per customer")
    treatment_col: str
    control: str
    outcome_col: str
    features: list[str] = Field(min_length=1)
    id_col: str | None = None
    value: float = Field(1.0, gt=0)
    costs: dict[str, Annotated[float, Field(ge=0)]] = Field(default_factory=dict)
    top: float | None = Field(None, gt=0, le=1)


class PriceRequest(_Request):
    rows: list[dict[str, Cell]] = Field(min_length=1, max_length=MAX_ROWS, description="product × competitor")
    product_col: str = "product_id"
    title_col: str | None = None
    brand_col: str | None = Field(default=None, description="the listing's brand, with title_col")
    competitor_col: str = "competitor"
    price_col: str = "price"
    date_col: str | None = None
    currency_col: str | None = None
    band: float = Field(0.03, ge=0, lt=0.5)
    min_margin: float = Field(0.1, ge=0, lt=1)


class BudgetRequest(_Request):
    rows: list[dict[str, Cell]] = Field(min_length=1, max_length=MAX_ROWS, description="channel × period")
    total: float = Field(gt=0)
    channel_col: str = "channel"
    spend_col: str = "spend"
    outcome_col: str = "revenue"
    period_col: str | None = None
    event_col: str | None = Field(default=None, description="marks festival / sale periods (1/0 or a name)")
    for_event: bool = Field(default=False, description="split for an event period")
    minimum: dict[str, Annotated[float, Field(ge=0)]] = Field(default_factory=dict)
    max_scale: float = Field(2.0, gt=0)


def _as_file(rows: list[dict[str, Cell]], folder: str) -> Path:
    """The rows as a file of text cells, read as an uploaded CSV is: numbers are parsed (and refused
    by row) where a column needs them, so one odd cell never fails the whole table."""
    path = Path(folder) / "rows.parquet"
    text = [{k: None if v is None else str(v) for k, v in row.items()} for row in rows]
    pd.DataFrame(text, dtype=object).to_parquet(path, index=False)
    return path


_ROW = re.compile(r"\brow (\d+)\b")
_FLAG = re.compile(r"--([a-z][a-z-]*)")
# `marketpilot decide` flags whose request field has another name than the flag's own (--spend-col)
_FIELD_OF_FLAG = {"cost": "costs", "min": "minimum"}


def _as_fields(text: str, fields: set[str]) -> str | None:
    """`text` with each command-line flag as the request field it stands for (`--spend-col` →
    `spend_col`); None where a flag has no field in the request (`--report`)."""
    names = [_FIELD_OF_FLAG.get(flag, flag.replace("-", "_")) for flag in _FLAG.findall(text)]
    if not set(names) <= fields:
        return None
    return _FLAG.sub(lambda m: _FIELD_OF_FLAG.get(m[1], m[1].replace("-", "_")), text)


@contextmanager
def _request_rows(folder: str, request: BaseModel) -> Iterator[None]:
    """Errors about the rows in the caller's terms: `rows[3]` (0-based, as sent), not the temporary
    file's spreadsheet row 5, and the request's fields (`spend_col`), not command-line flags; a part
    of a hint that names a flag with no field is left out, the rest kept (the file's columns)."""
    try:
        yield
    except UserError as exc:
        fields = set(type(request).model_fields)

        def say(text: str) -> str:
            text = text.replace(str(Path(folder) / "rows.parquet"), "rows")
            text = _ROW.sub(lambda m: f"rows[{int(m[1]) - 2}]", text)
            return _as_fields(text, fields) or text

        parts = [_as_fields(part, fields) for part in (exc.hint or "").split("; ") if part]
        hint = "; ".join(say(part) for part in parts if part) or None
        if isinstance(exc, ValidationFailed):
            raise ValidationFailed([say(p) for p in exc.problems], source="rows", hint=hint) from None
        raise type(exc)(say(str(exc.args[0])), hint=hint) from None


@router.post("/uplift")
def uplift(request: UpliftRequest, settings: AppSettings) -> UpliftReport:
    """Who should get which treatment: held-out Qini and policy values from a past randomised test;
    scores per customer are written under <home>/decisions/uplift/."""
    from marketpilot.analytics.uplift import Experiment, fit_experiment

    with tempfile.TemporaryDirectory() as folder, _request_rows(folder, request):
        spec = request.model_dump(exclude={"rows"})
        experiment = Experiment(path=_as_file(request.rows, folder), **spec)
        return home_relative(fit_experiment(experiment, settings), settings.home_dir)


@router.post("/price")
def price(request: PriceRequest, settings: AppSettings) -> PricingReport:
    """The catalogue's prices against the competitors' prices in `rows`."""
    from marketpilot.analytics.pricing import CompetitorFile, price_report

    with tempfile.TemporaryDirectory() as folder, _request_rows(folder, request):
        columns = request.model_dump(exclude={"rows", "band", "min_margin"})
        spec = CompetitorFile(path=_as_file(request.rows, folder), **columns)
        report = price_report(settings, spec, band=request.band, min_margin=request.min_margin)
        return home_relative(report, settings.home_dir)


@router.post("/budget")
def budget(request: BudgetRequest, settings: AppSettings) -> BudgetPlan:
    """Split `total` across the channels in `rows` by their fitted response curves."""
    from marketpilot.analytics.budget import HistoryFile, plan_budget

    with tempfile.TemporaryDirectory() as folder, _request_rows(folder, request):
        columns = request.model_dump(
            include={"channel_col", "spend_col", "outcome_col", "period_col", "event_col"}
        )
        spec = HistoryFile(path=_as_file(request.rows, folder), **columns)
        plan = plan_budget(
            spec,
            request.total,
            floors=request.minimum,
            max_scale=request.max_scale,
            for_event=request.for_event,
            settings=settings,
        )
        return home_relative(plan, settings.home_dir)


@router.post("/promo")
def promo(request: PromoSpec, settings: AppSettings) -> PromoPlan:
    """A 满减 coupon per customer group from the store's orders: threshold, depths, break-even lift."""
    from marketpilot.analytics.promo import plan_promotions

    return home_relative(plan_promotions(settings, request), settings.home_dir)


@router.get("/{kind}")
def last(
    kind: Literal["uplift", "price", "budget", "promo"], settings: AppSettings
) -> UpliftReport | PricingReport | BudgetPlan | PromoPlan:
    """The last decision of this kind (from the API or `marketpilot decide`)."""
    path = settings.home_dir / "decisions" / kind / "summary.json"
    if not path.exists():
        raise NotFoundError(f"No {kind} decision yet.", hint=f"Run: marketpilot decide {kind} …")
    model = {"uplift": UpliftReport, "price": PricingReport, "budget": BudgetPlan, "promo": PromoPlan}[kind]
    return home_relative(model.model_validate_json(path.read_text(encoding="utf-8")), settings.home_dir)
