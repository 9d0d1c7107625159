"""/v1/campaigns: plan from a goal, create from a spec, approve, run, status, report.

The same state database as `marketpilot campaign …` (SQLite under home, or PostgreSQL), so the CLI
and the API see and approve the same campaigns; a run is idempotent per campaign version.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
)
from pydantic_core import PydanticCustomError

from marketpilot.api.auth import app_settings
from marketpilot.api.paths import home_relative
from marketpilot.campaigns.executor import RunResult
from marketpilot.campaigns.planner import GOAL_HINT, MAX_GOAL, Plan, detect_language, goal_too_long
from marketpilot.campaigns.service import MAX_APPROVER, MAX_NOTE
from marketpilot.campaigns.spec import CampaignSpec
from marketpilot.config import Settings

router = APIRouter(prefix="/campaigns", tags=["campaigns"])
SettingsDep = Annotated[Settings, Depends(app_settings)]


def _engine(settings: Settings):  # type: ignore[no-untyped-def]
    from marketpilot.campaigns.state.db import open_state

    return open_state(settings)


class CampaignSummary(BaseModel):
    id: str
    name: str
    goal: str
    status: str
    version: int
    created_at: dt.datetime


class Created(BaseModel):
    campaign_id: str
    audience_size: int
    # What the data may make the rules read wrong (events that run past the orders), in the spec's language.
    warnings: list[str] = Field(default_factory=list)


class PlanRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    goal: str = Field(
        min_length=1, max_length=MAX_GOAL, description="The goal in words: 春节前唤醒90天未购的高价值客户…"
    )
    create: bool = Field(default=False, description="Store the plan as a draft awaiting approval.")

    @field_validator("goal", mode="wrap")
    @classmethod
    def _too_long_in_its_language(cls, goal: object, handler: ValidatorFunctionWrapHandler) -> str:
        """A Chinese goal over the limit is refused in Chinese, as the plan's own problems are (an
        English one keeps pydantic's words, as every other field's limit does)."""
        try:
            return handler(goal)
        except ValidationError as exc:
            if isinstance(goal, str) and len(goal) > MAX_GOAL and detect_language(goal) == "zh":
                message = f"{goal_too_long(goal)}{GOAL_HINT['zh']}"
                raise PydanticCustomError("string_too_long", message, {"max_length": MAX_GOAL}) from exc
            raise


class Planned(BaseModel):
    plan: Plan
    campaign_id: str | None


class CampaignView(BaseModel):
    campaign_id: str
    version: int
    spec: CampaignSpec


class ApproveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    by: str = Field(
        min_length=1, max_length=MAX_APPROVER, description="Who approves (kept in the audit trail)."
    )

    @field_validator("by")
    @classmethod
    def _named(cls, by: str) -> str:
        if not by.strip():
            raise ValueError("name who approves")
        return by.strip()

    note: str = Field(default="", max_length=MAX_NOTE, description="Why it is approved (audit trail).")


class Approved(BaseModel):
    campaign_id: str
    version: int
    approved_by: str


class MessageCount(BaseModel):
    version: int
    channel: str
    status: str
    messages: int


class ReportView(BaseModel):
    path: str
    metrics: dict[str, Any]
    narrative: dict[str, Any]
    limits: list[str] = Field(default=[], description="What the data cannot support, with its numbers.")


@router.get("")
def list_all(settings: SettingsDep) -> list[CampaignSummary]:
    """Every campaign with its status and current version."""
    from marketpilot.campaigns.service import list_campaigns

    return [CampaignSummary.model_validate(r) for r in list_campaigns(_engine(settings)).to_dict("records")]


@router.post("", status_code=201)
def create(spec: CampaignSpec, settings: SettingsDep) -> Created:
    """Store a campaign from a spec (validated against the data: segments, channels, columns)."""
    from marketpilot.campaigns.audience import AudienceSource
    from marketpilot.campaigns.planner import create_checked

    campaign_id, size = create_checked(settings, spec)
    warnings = AudienceSource(settings).warnings(spec.audience, spec.language)
    return Created(campaign_id=campaign_id, audience_size=size, warnings=warnings)


@router.post("/plan")
def plan(request: PlanRequest, settings: SettingsDep) -> Planned:
    """Draft a spec from a goal with the LLM, validated against the data and with the audience counted."""
    from marketpilot.campaigns.planner import plan_campaign
    from marketpilot.campaigns.service import create_campaign

    drafted = plan_campaign(settings, request.goal)
    campaign_id = (
        create_campaign(_engine(settings), drafted.spec, audience_size=drafted.audience_size)
        if request.create
        else None
    )
    return Planned(plan=drafted, campaign_id=campaign_id)


@router.get("/{campaign_id}")
def show(campaign_id: str, settings: SettingsDep) -> CampaignView:
    """The current version's spec."""
    from marketpilot.campaigns.service import get_spec

    spec, version = get_spec(_engine(settings), campaign_id)
    return CampaignView(campaign_id=campaign_id, version=version, spec=spec)


@router.post("/{campaign_id}/approve")
def approve(campaign_id: str, request: ApproveRequest, settings: SettingsDep) -> Approved:
    """Approve the current version so that a run may send it."""
    from marketpilot.campaigns.service import approve as approve_version

    version = approve_version(_engine(settings), campaign_id, approver=request.by, note=request.note)
    return Approved(campaign_id=campaign_id, version=version, approved_by=request.by)


@router.post("/{campaign_id}/run")
def run(campaign_id: str, settings: SettingsDep) -> RunResult:
    """Plan (once) and dispatch the approved version; call again to resume, or after quiet hours for
    the messages they held back (`pending`, `deferred_until`)."""
    from marketpilot.campaigns.executor import run_campaign

    return run_campaign(settings, campaign_id)


@router.get("/{campaign_id}/status")
def status(campaign_id: str, settings: SettingsDep) -> list[MessageCount]:
    """Message counts by version, channel and status."""
    from marketpilot.campaigns.service import message_counts

    return [MessageCount.model_validate(r) for r in message_counts(_engine(settings), campaign_id)]


@router.get("/{campaign_id}/report")
def report(
    campaign_id: str,
    settings: SettingsDep,
    version: Annotated[int | None, Query(ge=1, description="Default: the current version.")] = None,
    llm: Annotated[bool, Query(description="LLM narrative; false: templated.")] = True,
) -> ReportView:
    """Lift against the holdout with intervals, SRM check, posteriors; writes the HTML report too."""
    from marketpilot.campaigns.report import write_report

    written = write_report(settings, _engine(settings), campaign_id, version, use_llm=llm)
    view = ReportView(
        path=str(written.path),
        metrics=written.metrics.model_dump(mode="json"),
        narrative=written.narrative.model_dump(mode="json"),
        limits=written.limits,
    )
    return home_relative(view, settings.home_dir)
