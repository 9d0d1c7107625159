"""`campaign optimize`: the next iteration as a new spec version, with every change explained.

0. The copy the measured version actually sent (its accepted variants, model-written ones included) is
   written into the new spec, so each key keeps its text and the evidence about it stays meaningful.
1. Traffic follows the evidence, channel by channel (each channel has its own copy under a key and
   splits its own customers): each variant's weight there becomes its posterior probability of being
   the best on that channel (floored so no arm starves), and assignment switches to Thompson
   sampling. Arms that carry their own offers (coupon depths) are weighed by whether the offer paid
   instead, across channels (the offer is the arm's on every channel): one that does not pay drops to
   the floor; no copy is rewritten across offers. Where the depths measured so far place the most
   profitable depth apart from every depth tested, it becomes a new arm (`_add_advised_depth`).
2. Losing copy is rewritten by the LLM with its channel's winner as the example, and must pass the
   guardrails; copy that fails them keeps its old text (the change list says so, and the rejected
   rewrite is in the variants audit trail of the new version with why).
3. The audience is tightened to segments whose measured lift is positive.
"""

from __future__ import annotations

from pydantic import BaseModel, Field
from sqlalchemy import Engine

from marketpilot.analytics.coupon_response import depth_label
from marketpilot.analytics.promo import coupon_amount
from marketpilot.campaigns import service
from marketpilot.campaigns.copy import UsedVariant, audit_row, brief_for, check_spec_copy, used_copy
from marketpilot.campaigns.measure import CampaignMetrics, Posterior, measure
from marketpilot.campaigns.report import SMALL_ARM, depth_advice, offer_verdicts
from marketpilot.campaigns.spec import CampaignSpec, ChannelPlan, Offer, Variant
from marketpilot.config import Settings
from marketpilot.content.channels import channel_specs
from marketpilot.content.guardrails import check_copy
from marketpilot.content.guardrails.platform import add_ai_label
from marketpilot.errors import MarketPilotError, UserError

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
    metrics = measure(engine, campaign_id, version, currency=settings.currency)
    if metrics.overall.customers == 0 and not any(a.customers for a in metrics.arms):
        # Nothing measured: a new version would only bury the one awaiting its run.
        raise UserError(
            f"campaign {campaign_id} v{version} has no customer to learn from: it has not run yet, or its "
            "audience was empty, capped or suppressed",
            # Run twice in a row, optimize meets the version it proposed itself, which awaits its run.
            hint=f"optimize learns from the current version, v{version}: approve and run it first "
            f"(marketpilot campaign approve {campaign_id} --by NAME, then marketpilot campaign run "
            f"{campaign_id}), or report on an earlier one with marketpilot campaign report {campaign_id} "
            "--version N",
        )
    new = spec.model_copy(deep=True)
    carried = _carry_copy(new, used_copy(engine, campaign_id, version), version)
    changes: list[str] = []
    rewrites: list[dict[str, object]] = []
    llm_calls = 0

    # Per channel: a variant key is a different text on each channel, and traffic is split per channel.
    per_channel: dict[str, list[Posterior]] = {}
    for p in metrics.posteriors:
        per_channel.setdefault(p.channel or "", []).append(p)
    compared = {channel: ps for channel, ps in per_channel.items() if len(ps) > 1}
    if compared and new.has_arm_offers:
        changes.extend(_weigh_offers(new, metrics))
        changes.extend(_add_advised_depth(settings, new, metrics, version))
    elif compared and not any(p.converters for ps in compared.values() for p in ps):
        # Equal posteriors crown an arbitrary winner, and with five or more arms every other one falls
        # under LOSER_PROB_BEST and would be rewritten: no conversion is no evidence.
        changes.append("no conversions yet: weights and copy kept")
    elif compared:
        reweighted = False
        for plan in new.channels:
            if plan.name not in compared:
                continue
            posteriors = compared[plan.name]
            if not any(p.converters for p in posteriors):
                changes.append(f"no conversions yet on {plan.name}: weights and copy kept there")
                continue
            best = {p.arm: p.prob_best for p in posteriors}
            winner = max(best, key=best.get)  # type: ignore[arg-type]
            for variant in plan.variants:
                if variant.key in best:
                    variant.weight = round(max(best[variant.key], MIN_WEIGHT), 3)
            changes.append(
                f"{plan.name}: weights → "
                + ", ".join(f"{v.key}={v.weight}" for v in plan.variants)
                + f" (winner {winner}, P(best)={best[winner]:.2f})"
            )
            reweighted = True
            small = [p for p in posteriors if p.customers < SMALL_ARM]
            if rewrite and small:
                # Thompson weights are made for thin evidence; throwing away copy is not.
                sizes = ", ".join(f"{p.arm} {p.customers}" for p in small)
                changes.append(
                    f"copy kept: too few customers to judge it on {plan.name} ({sizes}; under {SMALL_ARM} "
                    "per arm)"
                )
            elif rewrite:
                llm_calls += _rewrite_losers(
                    settings, campaign_id, new, plan, best, winner, changes, rewrites, client
                )
        if reweighted and new.assignment != "thompson":
            new.assignment = "thompson"
            changes.append("assignment → thompson")

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
    changes = carried + changes
    # The version and its rewrite audit rows commit together: no version without its audit trail.
    new_version = service.add_version(engine, campaign_id, new, note="; ".join(changes), variants=rewrites)
    return Proposal(campaign_id=campaign_id, version=new_version, changes=changes, llm_calls=llm_calls)


def _weigh_offers(spec: CampaignSpec, metrics: CampaignMetrics) -> list[str]:
    """Arms that test offers (coupon depths) are weighed by whether their offer paid, not by
    conversions, which the deepest offer always wins: an arm whose offer does not pay drops to the
    floor weight; the others keep theirs until their verdict is in."""
    changes = []
    verdicts = {arm: verdict for arm, _, verdict, _ in offer_verdicts(metrics, spec.break_evens())}
    losing = {arm for arm, verdict in verdicts.items() if verdict == "does_not_pay"}
    for plan in spec.channels:
        for variant in plan.variants:
            if variant.key in losing and variant.weight != MIN_WEIGHT:
                variant.weight = MIN_WEIGHT
                changes.append(f"{plan.name}/{variant.key}: offer does not pay → weight {MIN_WEIGHT}")
    paying = sorted(arm for arm, verdict in verdicts.items() if verdict == "pays")
    if paying:
        changes.append(f"offers that pay: {', '.join(paying)}")
    if not losing and not paying:
        changes.append("offer arms: no verdict yet (or no break-even in the spec), weights kept")
    return changes


def _add_advised_depth(
    settings: Settings, spec: CampaignSpec, metrics: CampaignMetrics, version: int
) -> list[str]:
    """A new arm at the depth the measured arms say earns most (rounded as shoppers read it), when that
    depth was not tested: past the deepest, or between two. Its offer copies the nearest tested arm's
    with the new amount and the break-even its economics imply, w·d / (k − d); its copy is the nearest
    arm's with the offer's label replaced (so the arms differ in depth alone) where that passes the
    guardrails, else left to the model at run time."""
    advice = depth_advice(spec, metrics)
    if advice is None or advice.response.best_depth <= 0:
        return []
    response, threshold = advice.response, advice.threshold
    nearest = min(advice.measured, key=lambda m: abs(m.depth - response.best_depth))
    base = spec.offer_for(nearest.arm)
    if threshold:
        amount = coupon_amount(response.best_depth * threshold)
        depth, update = amount / threshold, {"coupon_amount": amount}
    else:  # a discount, in steps of 5 % (9.5折, 9折, 8.5折 …)
        depth = round(min(max(round(response.best_depth / 0.05) * 0.05, 0.05), 0.95), 2)
        update = {"discount": depth}
    w, k = response.deadweight, response.margin_ratio
    if any(abs(m.depth - depth) < 1e-6 for m in advice.measured) or depth >= k:
        return []
    language = spec.language
    label = depth_label(depth, threshold, language)
    offer = Offer.model_validate(
        base.model_dump()
        | update
        | {
            "description": label,
            "break_even_lift": round(w * depth / (k - depth), 4),
            "cost_per_conversion": round(base.cost_per_conversion * depth / base.depth, 2),
        }
    )
    key = _free_key(spec, f"depth-{round(depth * 100)}")
    old_label = depth_label(base.depth, threshold, language)
    specs = channel_specs()
    changes = []
    for plan in spec.channels:
        source = next((v for v in plan.variants if v.key == nearest.arm), None)
        if source is None:
            continue
        variant = Variant(key=key, offer=offer, angle=source.angle, ai_generated=source.ai_generated)
        plan.variants.append(variant)
        text = source.text.replace(old_label, label) if source.text and old_label in source.text else None
        if text is not None:
            brief = brief_for(settings, spec, plan, key)
            if check_spec_copy(text, brief, source.ai_generated, specs).ok:
                variant.text = text
                variant.subject = source.subject and source.subject.replace(old_label, label)
        how = (
            f"{nearest.arm}'s copy with {label}" if variant.text else "copy written by the model at run time"
        )
        changes.append(
            f"{plan.name}/{key}: new arm {label}, the most profitable depth on v{version}'s "
            f"{len(advice.measured)} depths (80 % between "
            f"{depth_label(response.low_depth, threshold, language)} and "
            f"{depth_label(response.high_depth, threshold, language)}); pays when orders grow by "
            f"{offer.break_even_lift:.1%}; {how}"
        )
    return changes


def _free_key(spec: CampaignSpec, stem: str) -> str:
    taken = {v.key for plan in spec.channels for v in plan.variants}
    return next(key for i in range(len(taken) + 1) if (key := f"{stem}-{i}" if i else stem) not in taken)


def _carry_copy(spec: CampaignSpec, used: dict[str, dict[str, UsedVariant]], version: int) -> list[str]:
    """Write the copy `version` was planned with into `spec` (in place): variants the spec left to the
    model get the text the model wrote, and keys the model added become spec variants."""
    notes = []
    for plan in spec.channels:
        sent = {k: v for k, v in used.get(plan.name, {}).items() if k != "generic"}
        filled = []
        for variant in plan.variants:
            if not variant.text and variant.key in sent:
                used_variant = sent[variant.key]
                variant.text, variant.subject = used_variant.text, used_variant.subject
                variant.ai_generated = used_variant.source == "llm"
                filled.append(variant.key)
        known = {v.key for v in plan.variants}
        for key, used_variant in sent.items():
            if key not in known:
                plan.variants.append(
                    Variant(
                        key=key,
                        text=used_variant.text,
                        subject=used_variant.subject,
                        ai_generated=used_variant.source == "llm",
                    )
                )
                filled.append(key)
        if filled:
            notes.append(f"{plan.name}: model-written copy of v{version} kept for {', '.join(filled)}")
    return notes


def _rewrite_losers(
    settings: Settings,
    campaign_id: str,
    spec: CampaignSpec,
    plan: ChannelPlan,
    best: dict[str, float],
    winner: str,
    changes: list[str],
    rewrites: list[dict[str, object]],
    client,  # type: ignore[no-untyped-def]
) -> int:
    """Ask for a rewrite of each losing variant on `plan` (P(best) there under LOSER_PROB_BEST) with the
    channel's winner as the example; every rewrite goes to `rewrites` as an audit row (version filled
    in by the caller), accepted or rejected with why."""
    from marketpilot.llm import get_client, load_prompt

    prompt = load_prompt("campaign_rewrite", spec.language)
    specs = channel_specs()  # the [content.ai_label.<channel>] settings of marketpilot.toml
    calls = 0
    by_key = {v.key: v for v in plan.variants}
    if winner not in by_key or not by_key[winner].text:
        return 0
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
        # Model-written copy carries the visible AI label where the channel requires one.
        text = add_ai_label(text.strip(), spec.language, specs[brief.channel])
        check = check_copy(text, brief, specs=specs)
        reasons = [v.describe() for v in check.violations]
        if text == by_key[winner].text:
            reasons.append(f"copies the winner {winner} verbatim")
        rewrites.append(
            audit_row(
                campaign_id,
                0,
                plan.name,
                variant.key,
                variant.subject,
                text,
                not reasons,
                "; ".join(reasons),
                "optimize",
            )
        )
        if not reasons:
            variant.text, variant.ai_generated = text, True
            changes.append(f"{plan.name}/{variant.key}: copy rewritten after {winner}: {text}")
        else:
            changes.append(
                f"{plan.name}/{variant.key}: rewrite rejected ({'; '.join(reasons)}), old copy kept"
            )
    return calls
