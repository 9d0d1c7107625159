"""`campaign optimize`: the next iteration as a new spec version, with every change explained.

1. Traffic follows the evidence: each variant's weight becomes its posterior probability of being best
   (floored so no arm starves), and assignment switches to Thompson sampling.
2. Losing copy is rewritten by the LLM with the winner as the example, and must pass the guardrails;
   copy that fails them keeps its old text (and the change list says so).
3. The audience is tightened to segments whose measured lift is positive.
"""

from __future__ import annotations

from pydantic import BaseModel, Field
from sqlalchemy import Engine

from marketpilot.campaigns import service
from marketpilot.campaigns.copy import brief_for
from marketpilot.campaigns.measure import measure
from marketpilot.config import Settings
from marketpilot.content.guardrails import check_copy
from marketpilot.errors import MarketPilotError

MIN_WEIGHT = 0.1
LOSER_PROB_BEST = 0.2
MIN_SEGMENT_CUSTOMERS = 100  # smaller segments are too noisy to drop on a point estimate


class Rewrite(BaseModel):
    text: str = Field(description="the rewritten copy")


class Proposal(BaseModel):
    campaign_id: str
    version: int
    changes: list[str]
    llm_calls: int = 0


def optimize_campaign(
    settings: Settings,
    engine: Engine,
    campaign_id: str,
    *,
    client=None,
    rewrite: bool = True,  # type: ignore[no-untyped-def]
) -> Proposal:
    spec, version = service.get_spec(engine, campaign_id)
    metrics = measure(engine, campaign_id, version)
    new = spec.model_copy(deep=True)
    changes: list[str] = []
    llm_calls = 0

    best = {p.arm: p.prob_best for p in metrics.posteriors}
    if len(best) > 1:
        winner = max(best, key=best.get)  # type: ignore[arg-type]
        for plan in new.channels:
            for variant in plan.variants:
                if variant.key in best:
                    variant.weight = round(max(best[variant.key], MIN_WEIGHT), 3)
            changes.append(
                f"{plan.name}: weights → " + ", ".join(f"{v.key}={v.weight}" for v in plan.variants)
            )
        new.assignment = "thompson"
        changes.append(f"assignment → thompson (winner {winner}, P(best)={best[winner]:.2f})")
        if rewrite:
            llm_calls += _rewrite_losers(settings, new, best, winner, changes, client)

    lifted = [
        s for s in metrics.segments if s["lift"] is not None and s["customers"] >= MIN_SEGMENT_CUSTOMERS
    ]
    keep = [s["segment"] for s in lifted if s["lift"] > 0]
    drop = [s["segment"] for s in lifted if s["lift"] <= 0]
    if keep and drop:
        new.audience.segments = sorted(keep)
        changes.append(f"audience → segments with positive lift {keep} (dropped {drop})")

    if not changes:
        changes.append("no change: not enough evidence yet")
    new_version = service.add_version(engine, campaign_id, new, note="; ".join(changes))
    return Proposal(campaign_id=campaign_id, version=new_version, changes=changes, llm_calls=llm_calls)


def _rewrite_losers(settings, spec, best, winner, changes, client) -> int:  # type: ignore[no-untyped-def]
    from marketpilot.llm import get_client, load_prompt

    prompt = load_prompt("campaign_rewrite", spec.language)
    calls = 0
    for plan in spec.channels:
        by_key = {v.key: v for v in plan.variants}
        if winner not in by_key or not by_key[winner].text:
            continue
        brief = brief_for(settings, spec, plan)
        for variant in plan.variants:
            if variant.key == winner or best.get(variant.key, 1.0) >= LOSER_PROB_BEST or not variant.text:
                continue
            try:
                client = client or get_client(settings)
                messages = prompt.render(
                    channel=plan.name,
                    offer=spec.offer.description or spec.name,
                    winner=by_key[winner].text,
                    loser=variant.text,
                )
                calls += 1
                text = client.complete(
                    messages, schema=Rewrite, temperature=0.7, seed=0, prompt=prompt.ref
                ).parsed.text
            except MarketPilotError as exc:
                changes.append(f"{plan.name}/{variant.key}: rewrite skipped ({exc})")
                continue
            check = check_copy(text, brief)
            if check.ok:
                variant.text = text
                changes.append(f"{plan.name}/{variant.key}: copy rewritten after {winner}: {text}")
            else:
                reasons = "; ".join(v.message for v in check.violations)
                changes.append(f"{plan.name}/{variant.key}: rewrite rejected by guardrails ({reasons})")
    return calls
