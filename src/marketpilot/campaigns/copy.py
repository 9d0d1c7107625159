"""The copy a campaign sends: variants from the spec (checked by content's guardrails) or generated
by content's `generate_variants` (one LLM call per channel brief — never per customer). Every variant,
accepted or rejected with its reasons, is written to the audit trail.

The accepted rows of a version are the copy it was planned with, fixed once written: a re-plan after a
crash reuses them instead of asking the model again, and `campaign optimize` starts the next version
from them, so traffic shifts between keys whose text stays the same.

A key left without copy on a channel (its spec text failed the guardrails, or the model wrote fewer
usable variants than the channel has keys, top-up included) is left out of that channel: its share goes
to the channel's other keys, by weight. `ChannelCopy.missing` says which keys and why, and the audit
trail holds the reason (the rejected spec text, or an empty `llm` row with the shortfall)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, Row, insert, select
from sqlalchemy.orm import InstrumentedAttribute

from marketpilot.campaigns.spec import CampaignSpec, ChannelPlan
from marketpilot.campaigns.spec import Offer as CampaignOffer
from marketpilot.campaigns.spec import Variant as SpecVariant
from marketpilot.campaigns.state.models import Brief as BriefRecord
from marketpilot.campaigns.state.models import VariantRecord
from marketpilot.config import Settings
from marketpilot.content.briefs import Audience, BrandVoice, Brief, Offer, ProductFacts
from marketpilot.content.channels import ChannelSpec, channel_specs
from marketpilot.content.generate import Variant as ContentVariant
from marketpilot.content.generate import generate_variants
from marketpilot.content.guardrails import CheckResult, check_copy
from marketpilot.data.store import Store
from marketpilot.errors import UserError, ValidationFailed

# Campaign channel → the content channel whose rules (length, billing, AI label) its copy follows.
CONTENT_CHANNEL = {"email": "email_body", "sms": "sms", "push": "push", "webhook": "push", "export": "push"}


@dataclass
class ChannelCopy:
    """Accepted variants of one channel, keyed like the spec, plus the non-personalised one."""

    channel: str
    variants: dict[str, ContentVariant]
    subjects: dict[str, str | None]
    weights: dict[str, float]
    generic: ContentVariant | None
    llm_calls: int = 0
    # key → why it has no copy here and where its share goes; the key gets no customers on this channel
    missing: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class UsedVariant:
    """A variant as a version was planned with it: template text (slots unfilled) and where it came from."""

    text: str
    subject: str | None
    source: str  # spec | llm


def used_copy(engine: Engine, campaign_id: str, version: int) -> dict[str, dict[str, UsedVariant]]:
    """Channel → variant key → the accepted copy this version was planned with ('generic' included);
    empty before the version's first run. Rows `optimize` wrote for a version not yet run are proposals,
    not copy in use, so only the run's own sources count."""
    out: dict[str, dict[str, UsedVariant]] = {}
    columns = (VariantRecord.text, VariantRecord.subject, VariantRecord.source)
    for channel, key, text, subject, source in _run_rows(engine, campaign_id, version, "accepted", *columns):
        out.setdefault(channel, {})[key] = UsedVariant(text, subject, source)
    return out


def _run_rows(
    engine: Engine, campaign_id: str, version: int, status: str, *columns: InstrumentedAttribute[Any]
) -> list[Row[Any]]:
    """(channel, key, *columns) of the version's audit rows of `status` that its run wrote (sources
    spec and llm), oldest first."""
    stmt = (
        select(VariantRecord.channel, VariantRecord.variant_key, *columns)
        .where(
            VariantRecord.campaign_id == campaign_id,
            VariantRecord.version == version,
            VariantRecord.status == status,
            VariantRecord.source.in_(("spec", "llm")),
        )
        .order_by(VariantRecord.id)
    )
    with engine.connect() as con:
        return list(con.execute(stmt))


def product_facts(settings: Settings, spec: CampaignSpec, offer: CampaignOffer | None = None) -> ProductFacts:
    """The offer's first product from the catalogue (names and prices copy may state), else the offer text."""
    offer = offer or spec.offer
    discount = offer.discount
    if offer.product_ids:
        with Store.open(settings) as store:
            rows = store.query("SELECT * FROM products WHERE product_id = ?", [offer.product_ids[0]]).to_dict(
                "records"
            )
        if not rows:
            raise UserError(f"Offer product {offer.product_ids[0]!r} is not in the catalogue.")
        facts = ProductFacts.from_row(rows[0])
        return facts.model_copy(update={"discount": discount}) if discount else facts
    return ProductFacts(name=offer.description or spec.name, discount=discount)


def brief_for(settings: Settings, spec: CampaignSpec, plan: ChannelPlan, arm: str | None = None) -> Brief:
    """The brief copy for `plan` is written and checked against: the campaign's offer, or with `arm`
    the offer customers of that arm get."""
    offer = spec.offer_for(arm) if arm else spec.offer
    segment = ",".join(spec.audience.segments) or "all"
    return Brief(
        product=product_facts(settings, spec, offer),
        audience=Audience(segment=segment),
        language=spec.language,
        channel=CONTENT_CHANNEL[plan.name],
        goal=spec.goal,
        offer=Offer(
            coupon_code=offer.coupon_code,
            coupon_amount=offer.coupon_amount,
            coupon_threshold=offer.coupon_threshold,
        ),
        brand=BrandVoice(shop_name=spec.shop_name),
    )


def _expected_keys(plan: ChannelPlan) -> list[str]:
    """The keys a channel should have copy for: the spec's, or the two the model writes without any."""
    return [v.key for v in plan.variants] or ["A", "B"]


def _no_copy(why: str, channel: str, kept: Mapping[str, object]) -> str:
    return f"{why}; its share of {channel} goes to {', '.join(kept)}"


def _arm_briefs(settings: Settings, spec: CampaignSpec, plan: ChannelPlan) -> tuple[Brief, dict[str, Brief]]:
    """The campaign's brief for the channel, and each variant's (its own where its arm has an offer)."""
    default = brief_for(settings, spec, plan)
    return default, {
        v.key: brief_for(settings, spec, plan, v.key) if v.offer else default for v in plan.variants
    }


def resolve_copy(
    settings: Settings, engine: Engine, spec: CampaignSpec, campaign_id: str, version: int, *, client=None
) -> dict[str, ChannelCopy]:  # type: ignore[no-untyped-def]
    """Each channel's accepted variants for this version: the recorded ones when the version already
    resolved its copy (every channel has a variant), else checked or generated now and recorded. A
    variant whose arm has its own offer is written and checked against that offer."""
    used = used_copy(engine, campaign_id, version)
    if used and all(set(used.get(plan.name, {})) - {"generic"} for plan in spec.channels):
        gaps = _gaps(spec, used, _missing_reasons(engine, campaign_id, version))
        return {
            plan.name: _fixed_copy(settings, spec, plan, used[plan.name], gaps.get(plan.name, {}))
            for plan in spec.channels
        }
    specs = channel_specs()  # the [content.ai_label.<channel>] settings of marketpilot.toml
    out: dict[str, ChannelCopy] = {}
    audit_briefs, audit_variants = [], []
    for plan in spec.channels:
        default, briefs = _arm_briefs(settings, spec, plan)
        payloads = dict.fromkeys(b.model_dump_json() for b in (briefs.values() if briefs else [default]))
        audit_briefs.extend(
            {"campaign_id": campaign_id, "version": version, "channel": plan.name, "payload": payload}
            for payload in payloads
        )
        copy = ChannelCopy(plan.name, {}, {}, {}, None)
        given = [v for v in plan.variants if v.text]
        missing = [v for v in plan.variants if not v.text] or ([] if plan.variants else None)
        why: dict[str, str] = {}  # key → why it has no copy
        for variant in given:
            brief = briefs[variant.key]
            result = check_spec_copy(variant.text, brief, variant.ai_generated, specs)
            reasons = "; ".join(v.describe() for v in result.violations)
            audit_variants.append(
                audit_row(
                    campaign_id,
                    version,
                    plan.name,
                    variant.key,
                    variant.subject,
                    variant.text,
                    result.ok,
                    reasons,
                    "spec",
                )
            )
            if result.ok:
                copy.variants[variant.key] = _content_variant(
                    variant.text, brief, variant.angle or "spec", ai_generated=variant.ai_generated
                )
                copy.subjects[variant.key] = variant.subject
                copy.weights[variant.key] = variant.weight
            else:
                why[variant.key] = f"its text failed the guardrails ({reasons})"
        if missing is None or missing:
            keys = [v.key for v in missing] if missing else _expected_keys(plan)
            # One generation per offer: arms that share an offer share a call, as before.
            by_offer: dict[str, list[str]] = {}
            for key in keys:
                by_offer.setdefault(briefs.get(key, default).model_dump_json(), []).append(key)
            if client is None:
                from marketpilot.llm import get_client

                client = get_client(settings)
            for group in by_offer.values():
                brief = briefs.get(group[0], default)
                [generated] = generate_variants([brief], client, n=len(group), seed=version, specs=specs)
                copy.llm_calls += generated.llm_calls
                for key, variant in zip(group, generated.variants, strict=False):
                    copy.variants[key] = variant
                    copy.subjects[key] = None
                    copy.weights[key] = next((v.weight for v in plan.variants if v.key == key), 1.0)
                    audit_variants.append(
                        audit_row(campaign_id, version, plan.name, key, None, variant.text, True, "", "llm")
                    )
                # The model wrote fewer usable variants than the group has keys: the keys past them
                # get none (recorded as an empty rejected row, so the audit trail says why).
                for key in group[len(generated.variants) :]:
                    why[key] = f"the model's copy fell short ({generated.shortfall})"
                    audit_variants.append(
                        audit_row(campaign_id, version, plan.name, key, None, "", False, why[key], "llm")
                    )
                for dropped in generated.dropped:
                    audit_variants.append(
                        audit_row(
                            campaign_id,
                            version,
                            plan.name,
                            "-",
                            None,
                            dropped.text,
                            False,
                            f"{dropped.reason}: {dropped.detail}",
                            "llm",
                        )
                    )
        if plan.generic and plan.generic.text:
            # The non-personalised copy is one text for every arm, so it must be true of every arm's
            # offer; where it is not, opted-out customers get their arm's copy with neutral wording.
            reasons = _generic_violations(plan.generic, default, briefs, specs)
            audit_variants.append(
                audit_row(
                    campaign_id,
                    version,
                    plan.name,
                    "generic",
                    plan.generic.subject,
                    plan.generic.text,
                    not reasons,
                    "; ".join(reasons),
                    "spec",
                )
            )
            if not reasons:
                copy.generic = _content_variant(
                    plan.generic.text, default, "generic", ai_generated=plan.generic.ai_generated
                )
        if copy.variants:
            copy.missing = {key: _no_copy(reason, plan.name, copy.variants) for key, reason in why.items()}
        out[plan.name] = copy
    with engine.begin() as con:
        con.execute(insert(BriefRecord), audit_briefs)
        if audit_variants:
            con.execute(insert(VariantRecord), audit_variants)
    empty = [name for name, copy in out.items() if not copy.variants]
    if empty:
        reasons = [
            f"{a['channel']}/{a['variant_key']}: {a['rejection_reasons']}"
            for a in audit_variants
            if a["status"] == "rejected"
        ]
        raise ValidationFailed(
            reasons or [f"no variants for {empty}"],
            source=f"campaign {campaign_id} v{version} copy",
            hint=f"No variant of {', '.join(empty)} has usable copy (the guardrails rejected it, or the "
            "model wrote none that passed them); edit the copy, or write it into the spec.",
        )
    return out


def _generic_violations(
    generic: SpecVariant, default: Brief, briefs: dict[str, Brief], specs: Mapping[str, ChannelSpec]
) -> list[str]:
    """What the generic text gets wrong against the offer of any arm that sends it (the campaign's, or
    an arm's own, whose reasons are prefixed with its key)."""
    # Arms with the same offer are checked once, their keys named together.
    offers: list[tuple[list[str], Brief]] = []
    for key, brief in briefs.items():
        if brief == default:
            continue
        same = next((keys for keys, seen in offers if seen == brief), None)
        if same is None:
            offers.append(([key], brief))
        else:
            same.append(key)
    sent_with = [("", default)] if not briefs or default in briefs.values() else []
    sent_with += [(f"{', '.join(keys)}: ", brief) for keys, brief in offers]
    return [
        prefix + v.describe()
        for prefix, brief in sent_with
        for v in check_spec_copy(generic.text or "", brief, generic.ai_generated, specs).violations
    ]


def _missing_reasons(engine: Engine, campaign_id: str, version: int) -> dict[str, dict[str, str]]:
    """Channel → key → why the version has no copy for it, from its rejected rows: a spec text the
    guardrails refused, or the empty row a generation shortfall leaves (the latest row per key wins)."""
    out: dict[str, dict[str, str]] = {}
    columns = (VariantRecord.rejection_reasons, VariantRecord.source)
    for channel, key, reasons, source in _run_rows(engine, campaign_id, version, "rejected", *columns):
        out.setdefault(channel, {})[key] = (
            f"its text failed the guardrails ({reasons})" if source == "spec" else reasons
        )
    return out


def keys_without_copy(
    engine: Engine, spec: CampaignSpec, campaign_id: str, version: int
) -> dict[str, dict[str, str]]:
    """Channel → key → why the version ran without copy for it there (so it got none of that channel's
    customers); empty before the version resolved its copy."""
    used = used_copy(engine, campaign_id, version)
    return _gaps(spec, used, _missing_reasons(engine, campaign_id, version)) if used else {}


def _gaps(
    spec: CampaignSpec, used: Mapping[str, Mapping[str, UsedVariant]], why: Mapping[str, Mapping[str, str]]
) -> dict[str, dict[str, str]]:
    """Channel → key it should have copy for but has none in `used` → why (`_missing_reasons`)."""
    out: dict[str, dict[str, str]] = {}
    for plan in spec.channels:
        for key in _expected_keys(plan):
            if key not in used.get(plan.name, {}):
                reason = why.get(plan.name, {}).get(key, "no copy was recorded for it")
                out.setdefault(plan.name, {})[key] = reason
    return out


def _fixed_copy(
    settings: Settings,
    spec: CampaignSpec,
    plan: ChannelPlan,
    used: dict[str, UsedVariant],
    gaps: Mapping[str, str],
) -> ChannelCopy:
    """A channel's copy rebuilt from what its version already recorded (no LLM call, no new audit rows),
    with the keys it has none for and why (`gaps`)."""
    default, briefs = _arm_briefs(settings, spec, plan)
    weights = {v.key: v.weight for v in plan.variants}
    angles = {v.key: v.angle for v in plan.variants}
    model_written = {
        v.key for v in [*plan.variants, *([plan.generic] if plan.generic else [])] if v.ai_generated
    }
    copy = ChannelCopy(plan.name, {}, {}, {}, None)
    for key, variant in used.items():
        content = _content_variant(
            variant.text,
            briefs.get(key, default),
            angles.get(key) or variant.source,
            ai_generated=variant.source == "llm" or key in model_written,
        )
        if key == "generic":
            copy.generic = content
            continue
        copy.variants[key] = content
        copy.subjects[key] = variant.subject
        copy.weights[key] = weights.get(key, 1.0)
    copy.missing = {key: _no_copy(why, plan.name, copy.variants) for key, why in gaps.items()}
    return copy


def check_spec_copy(
    text: str, brief: Brief, ai_generated: bool, specs: Mapping[str, ChannelSpec]
) -> CheckResult:
    """Content's guardrails under the configured channel specs; the visible AI label is asked of
    model-written text only, since labelling a person's copy "AI生成" would mislabel it."""
    if not ai_generated:
        spec = specs[brief.channel].model_copy(update={"visible_ai_label": False})
        specs = {**specs, brief.channel: spec}
    return check_copy(text, brief, specs=specs)


def _content_variant(text: str, brief: Brief, angle: str, *, ai_generated: bool) -> ContentVariant:
    return ContentVariant(
        text=text,
        angle=angle,
        brief_key=brief.key,
        channel=brief.channel,
        language=brief.language,
        ai_generated=ai_generated,
    )


def audit_row(
    cid: str,
    version: int,
    channel: str,
    key: str,
    subject: str | None,
    text: str,
    ok: bool,
    reasons: str,
    source: str,
) -> dict[str, object]:
    return {
        "campaign_id": cid,
        "version": version,
        "channel": channel,
        "variant_key": key,
        "subject": subject,
        "text": text,
        "status": "accepted" if ok else "rejected",
        "rejection_reasons": reasons,
        "source": source,
    }


__all__ = ["ChannelCopy", "UsedVariant", "audit_row", "check_spec_copy", "resolve_copy", "used_copy"]
