"""The whole loop offline, for `marketpilot demo` and the end-to-end test: plan (a fixed festival spec,
or the planner when a goal is given) → approve → run → simulated responses → tracking → report →
optimize → approve → run again → report."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pydantic import BaseModel

from marketpilot.campaigns import service
from marketpilot.campaigns.executor import run_campaign
from marketpilot.campaigns.optimize import optimize_campaign
from marketpilot.campaigns.report import write_report
from marketpilot.campaigns.simulate import SimulationConfig, simulate_responses
from marketpilot.campaigns.spec import CampaignSpec, parse_spec
from marketpilot.campaigns.state.db import open_state
from marketpilot.campaigns.state.models import utcnow
from marketpilot.campaigns.tracking import ingest_file
from marketpilot.config import Settings

DEMO_SPEC = {
    "name": "春节回店礼",
    "goal": "festival_promotion",
    "language": "zh",
    "offer": {"description": "春节全场8折", "discount": 0.2, "cost_per_conversion": 5.0},
    "channels": [
        {
            "name": "export",
            "cost": 0.03,
            "variants": [
                {"key": "A", "text": "{name}，春节全场8折，回店看看"},
                {"key": "B", "text": "{name}，新年好！全场8折等你"},
            ],
            "generic": {"key": "generic", "text": "春节全场8折，欢迎回店看看"},
        }
    ],
    "holdout_share": 0.15,
}


class IterationSummary(BaseModel):
    version: int
    audience: int
    holdout: int
    sent: int
    lift_pp: float | None
    lift_ci_pp: tuple[float, float] | None
    true_lift_pp: float
    report: Path
    narrative_source: str


class LoopSummary(BaseModel):
    campaign_id: str
    iterations: list[IterationSummary]
    changes: list[str]
    llm_calls: int


def run_campaign_loop(
    settings: Settings,
    *,
    spec: CampaignSpec | None = None,
    seed: int = 0,
    use_llm: bool = True,
    client=None,  # type: ignore[no-untyped-def]
    simulation: SimulationConfig | None = None,
    campaign_id: str | None = None,
) -> LoopSummary:
    engine = open_state(settings)
    spec = spec or parse_spec(DEMO_SPEC)
    cid = service.create_campaign(engine, spec, campaign_id=campaign_id)
    simulation = simulation or SimulationConfig(seed=seed)
    start = utcnow().replace(hour=4, minute=0, second=0, microsecond=0)  # 12:00 in Shanghai
    iterations, changes, llm_calls = [], [], 0
    for step in range(2):
        now = start + dt.timedelta(days=21 * step)
        version = service.approve(engine, cid, approver="demo")
        result = run_campaign(settings, cid, clock=lambda now=now: now, client=client)
        current, _ = service.get_spec(engine, cid, version)
        truth = simulate_responses(
            settings,
            engine,
            cid,
            version,
            simulation.model_copy(update={"seed": seed + step}),
            spec=current,
        )
        ingest_file(engine, truth.events_file)
        report = write_report(settings, engine, cid, version, client=client, use_llm=use_llm)
        lift = report.metrics.lift
        iterations.append(
            IterationSummary(
                version=version,
                audience=result.plan.audience,
                holdout=result.plan.holdout,
                sent=result.sent,
                lift_pp=lift.absolute * 100 if lift else None,
                lift_ci_pp=(lift.ci_low * 100, lift.ci_high * 100) if lift else None,
                true_lift_pp=truth.true_lift * 100,
                report=report.path,
                narrative_source=report.narrative.source,
            )
        )
        llm_calls += result.plan.llm_calls + (1 if use_llm else 0)
        if step == 0:
            proposal = optimize_campaign(settings, engine, cid, client=client, rewrite=use_llm)
            changes, llm_calls = proposal.changes, llm_calls + proposal.llm_calls
    return LoopSummary(campaign_id=cid, iterations=iterations, changes=changes, llm_calls=llm_calls)
