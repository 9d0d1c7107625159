"""`campaign plan "春节前唤醒90天未购的高价值客户，预算5000条短信"`: the LLM drafts a spec from a goal in
Chinese or English; the draft is validated against the spec schema AND the data (segments, RFM
classes, products and customer ids it names must exist, and so must the intel outputs its score rules
need), and the audience size is computed by running the audience query — never taken from the model.
"CLV前20%" becomes the band clv_percentile >= 0.8, ranked over intel's CLV table at run time. Score
thresholds, shares, customer ids and schedule times the goal does not state are dropped (small models
fill them in unasked), and the plan lists what was dropped.
A discount the goal states (8折, 85折, 半价, 20% off) is read from the
goal itself, not from the model's reading of it; so are 满减 coupons (满300减50): one becomes the offer,
several become arms of the campaign, one per coupon, tested against the same holdout; and so is a
recency the goal states (90天未购, 30天内买过, no purchase in 90 days). Nothing is stored until
`campaign create`."""

from __future__ import annotations

import datetime as dt
import itertools
import re

from pydantic import BaseModel, Field

from marketpilot.campaigns.audience import AudienceSource
from marketpilot.campaigns.spec import Band, CampaignSpec, ChannelName, Goal, parse_spec
from marketpilot.config import Settings
from marketpilot.content.guardrails.facts import extract_claims
from marketpilot.data.store import Store
from marketpilot.errors import UserError, ValidationFailed

MAX_PRODUCTS_IN_PROMPT = 30


class PlanDraft(BaseModel):
    """What the model fills in; everything it leaves null keeps the spec's default (holdout 10 %,
    quiet hours 22:00–08:00, send now …)."""

    name: str = Field(description="short campaign name in the goal's language")
    goal: Goal
    segments: list[str] = Field(default_factory=list, description="segment names from the list, or empty")
    rfm_classes: list[str] = Field(default_factory=list, description="RFM classes from the list, or empty")
    recency_days_min: int | None = Field(default=None, description="only customers silent this many days")
    recency_days_max: int | None = Field(default=None, description="only customers who bought within N days")
    propensity_min: float | None = Field(default=None, description="purchase probability at least, 0-1")
    churn_min: float | None = Field(default=None, description="churn risk at least, 0-1 (高于0.6 → 0.6)")
    churn_max: float | None = Field(default=None, description="churn risk at most, 0-1")
    clv_min: float | None = Field(default=None, description="predicted CLV at least this amount")
    clv_top_share: float | None = Field(
        default=None, description="only the top share of customers by CLV: 0.2 for CLV前20%"
    )
    include_ids: list[str] = Field(default_factory=list, description="customer ids always included")
    exclude_ids: list[str] = Field(default_factory=list, description="customer ids never included")
    product_ids: list[str] = Field(default_factory=list, description="product ids from the list, or empty")
    offer: str = Field(default="", description="the offer in words, e.g. 全场8折")
    discount: float | None = Field(default=None, description="fraction off, 0.2 for 8折; null if none")
    channels: list[ChannelName] = Field(min_length=1)
    max_messages: int | None = Field(default=None, description="message budget, null if none")
    holdout_share: float | None = Field(default=None, description="control group share, 0.2 for 留出20%")
    quiet_start: str | None = Field(default=None, description="start of quiet hours, HH:MM")
    quiet_end: str | None = Field(default=None, description="end of quiet hours, HH:MM")
    send_at: str | None = Field(default=None, description="earliest send time, YYYY-MM-DDTHH:MM local")


class Plan(BaseModel):
    spec: CampaignSpec
    audience_size: int
    draft: PlanDraft
    language: str
    # The CLV values the spec's clv_percentile band selects today, for the approver to see.
    clv_range: Band | None = None
    # Rules the model proposed that the goal does not state, left out of the spec.
    dropped: list[str] = Field(default_factory=list)


def detect_language(text: str) -> str:
    return "zh" if re.search(r"[\u4e00-\u9fff]", text) else "en"


def _products(settings: Settings) -> dict[str, str]:
    with Store.open(settings) as store:
        frame = store.query(
            "SELECT product_id, name FROM products ORDER BY product_id LIMIT ?", [MAX_PRODUCTS_IN_PROMPT]
        )
    return dict(zip(frame["product_id"].astype(str), frame["name"].astype(str), strict=True))


def stated_discount(goal: str) -> float | None:
    """The fraction off the goal states, when it states exactly one (8折 → 0.2, 20% off → 0.2)."""
    rates = {float(c.value) for c in extract_claims(goal) if c.role == "rate"}  # type: ignore[arg-type]
    return rates.pop() if len(rates) == 1 else None


def stated_coupons(goal: str) -> list[tuple[float, float]]:
    """The 满减 coupons the goal states, in order and each once: 满300减50 → (300, 50)."""
    pairs = [
        (float(t.value), float(c.value))  # type: ignore[arg-type]
        for t, c in itertools.pairwise(extract_claims(goal))
        if t.role == "threshold" and c.role == "coupon"
    ]
    return list(dict.fromkeys((t, a) for t, a in pairs if a < t))


# "90天未购", "超过60天没买", "no purchase in the last 90 days", "inactive for 60 days": silent at least
# N days. Read before the bought-within phrasing, whose words ("in the last 90 days") they contain.
_SILENT_DAYS = (
    re.compile(
        r"(\d+)\s*[天日]\s*(?:以上|及以上)?\s*(?:都)?(?:未|没有?|不曾)\s*(?:再次?)?(?:购|买|下单|消费|复购|光顾)"
    ),
    re.compile(
        r"\b(?:no|not|without)\s+(?:a\s+|any\s+)?(?:purchases?|orders?|buying)\s+(?:in|for|within|over)\s+"
        r"(?:the\s+)?(?:last\s+|past\s+)?(\d+)\s*days",
        re.I,
    ),
    re.compile(
        r"\b(?:haven't|have\s+not|hasn't|has\s+not|didn't|did\s+not)\s+(?:bought|purchased|ordered)"
        r"(?:\s+anything)?\s+(?:in|for|within|over)\s+(?:the\s+)?(?:last\s+|past\s+)?(\d+)\s*days",
        re.I,
    ),
    re.compile(r"\b(?:inactive|lapsed|silent|dormant)\s+(?:for\s+)?(\d+)\+?\s*days", re.I),
    re.compile(
        r"\b(\d+)\+?\s*days\s+(?:without\s+(?:a\s+)?(?:purchase|order)|since\s+(?:the|their)\s+last)", re.I
    ),
)
# "30天内买过", "最近30天下过单", "bought in the last 30 days": bought within N days.
_BOUGHT_WITHIN_DAYS = (
    re.compile(r"(\d+)\s*[天日]\s*(?:内|以内|之内)?\s*(?:有过?|曾经?)?\s*(?:购买|买过|下过?单|消费过?|复购)"),
    re.compile(
        r"\b(?:bought|purchased|ordered)\s+(?:\w+\s+)?(?:in|within)\s+(?:the\s+)?(?:last\s+|past\s+)?(\d+)\s*days",
        re.I,
    ),
)


def stated_recency(goal: str) -> tuple[int | None, int | None]:
    """The recency band the goal states, in days since the last purchase, as (min, max): 90天未购 →
    (90, None), 30天内买过 → (None, 30); the tightest when a phrase repeats."""
    silent: list[int] = []
    for pattern in _SILENT_DAYS:
        silent += [int(m) for m in pattern.findall(goal)]
        goal = pattern.sub(" ", goal)
    within = [int(m) for pattern in _BOUGHT_WITHIN_DAYS for m in pattern.findall(goal)]
    return (max(silent) if silent else None, min(within) if within else None)


def _coupon_offer(threshold: float, amount: float) -> dict[str, object]:
    # Described by the goal's own figures (the model's wording may misquote them, and copy may quote
    # the description); the whole amount per conversion: an upper bound (orders under the threshold
    # redeem nothing).
    return {
        "description": f"满{threshold:g}减{amount:g}",
        "coupon_threshold": threshold,
        "coupon_amount": amount,
        "cost_per_conversion": amount,
    }


def _coupon_key(threshold: float, amount: float, same_threshold: bool) -> str:
    key = f"off{amount:g}" if same_threshold else f"t{threshold:g}-off{amount:g}"
    return key.replace(".", "_")


# Rules a small model tends to fill in unasked; each is kept only when the goal states it.
_GROUNDED_FIGURES = (
    "recency_days_min",
    "recency_days_max",
    "propensity_min",
    "churn_min",
    "churn_max",
    "clv_min",
    "clv_top_share",
    "holdout_share",
)
_SCHEDULE_FIELDS = ("quiet_start", "quiet_end", "send_at")
# A clock time or a date: 9点, 21:00, 10am, 2月1日, 1号, 2099-02-01, 明天.
_TIME_WORDS = re.compile(
    r"\d{1,2}\s*[:：点时]|\d{1,2}\s*[ap]\.?m\b|\d+\s*[月日号]|\d{4}-\d{1,2}-\d{1,2}|明天|后天|周[一二三四五六日天]"
    r"|\b(?:tomorrow|monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b",
    re.IGNORECASE,
)


# Words that name a channel in a goal ("预算300条短信", "send a push"): when a goal names channels,
# those are the campaign's, whatever a small model adds.
_CHANNEL_WORDS: dict[str, re.Pattern[str]] = {
    "sms": re.compile(r"短信|\bsms\b|text messages?", re.I),
    "email": re.compile(r"邮件|\be-?mails?\b|\bedm\b", re.I),
    "push": re.compile(r"推送|\bpush\b", re.I),
    "webhook": re.compile(r"\bwebhook", re.I),
    "export": re.compile(r"导出|\bexport", re.I),
}


def named_channels(goal: str) -> list[str]:
    return [name for name, words in _CHANNEL_WORDS.items() if words.search(goal)]


def ground_in_goal(draft: PlanDraft, goal: str) -> tuple[PlanDraft, list[str]]:
    """The draft without the rules the goal does not state, and what was dropped. A figure counts as
    stated when the goal has it as written or as a percentage (0.6 ↔ 60); customer ids must appear in
    the goal; a schedule needs a time or date in the goal; channels the goal names are the only ones."""
    figures = [float(f) for f in re.findall(r"\d+(?:\.\d+)?", goal)]

    def stated(value: float) -> bool:
        return any(abs(f - v) < 1e-9 for f in figures for v in (value, value * 100, value / 100))

    update: dict[str, object] = {}
    for name in _GROUNDED_FIGURES:
        value = getattr(draft, name)
        if value is not None and not stated(value):
            update[name] = None
    # A budget is a count as written (5000, 5,000, 5千, 1万), never a percentage: the embedded model
    # read "留出20%对照组" as a budget of 20 messages too.
    if draft.max_messages is not None and draft.max_messages not in _stated_counts(goal):
        update["max_messages"] = None
    for name in ("include_ids", "exclude_ids"):
        ids = getattr(draft, name)
        if any(i not in goal for i in ids):
            update[name] = [i for i in ids if i in goal]
    if not _TIME_WORDS.search(goal):
        update |= {name: None for name in _SCHEDULE_FIELDS if getattr(draft, name) is not None}
    named = named_channels(goal)
    if named and set(draft.channels) != set(named):
        update["channels"] = named
    dropped = [f"{name}={getattr(draft, name)!r}" for name in update]
    return draft.model_copy(update=update), dropped


_COUNT = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)(?![\d.])\s*(万|千|[kKwW](?![A-Za-z]))?(?!\s*[%％])")
_SCALE = {"万": 10_000, "w": 10_000, "W": 10_000, "千": 1_000, "k": 1_000, "K": 1_000}


def _stated_counts(goal: str) -> set[int]:
    """Whole numbers the goal writes, not as percentages: 5000, 5,000, 5千, 0.5万, 5k."""
    plain = re.sub(r"(?<=\d)[,，](?=\d{3})", "", goal)
    counts = set()
    for number, unit in _COUNT.findall(plain):
        value = float(number) * _SCALE.get(unit, 1)
        if value.is_integer():
            counts.add(int(value))
    return counts


def _share(value: float | None) -> float | None:
    """A probability or share; 60 or 20 (a percentage written as a number) reads as 0.6 or 0.2."""
    if value is not None and 1 < value <= 100:
        return value / 100
    return value


def _band(low: float | None, high: float | None) -> dict[str, float] | None:
    band = {k: v for k, v in (("min", low), ("max", high)) if v is not None}
    return band or None


def draft_to_spec(
    draft: PlanDraft, language: str, coupons: list[tuple[float, float]] | None = None
) -> CampaignSpec:
    """The spec a draft describes; out-of-range values fail with their spec field path. `coupons`
    the goal states (`stated_coupons`): one is the campaign's offer; several are tested against each
    other, one arm per coupon, each arm's copy held to its own coupon."""
    audience: dict[str, object] = {
        "segments": draft.segments,
        "rfm_classes": draft.rfm_classes,
        "include": draft.include_ids,
        "exclude": draft.exclude_ids,
        "recency_days": _band(draft.recency_days_min or None, draft.recency_days_max),
        "propensity": _band(_share(draft.propensity_min), None),
        "churn": _band(_share(draft.churn_min), _share(draft.churn_max)),
        "clv": _band(draft.clv_min, None),
    }
    top = _share(draft.clv_top_share)
    if top is not None:
        if not 0 < top <= 1:
            raise ValidationFailed(
                [f"clv_top_share: {draft.clv_top_share} is not a share of customers (0.2 = top 20%)"],
                source="planned spec",
            )
        # The top x by CLV = customers with at least 1 − x of the CLV table below them.
        audience["clv_percentile"] = {"min": round(1 - top, 6)}
    schedule = {
        k: v
        for k, v in (
            ("quiet_start", draft.quiet_start),
            ("quiet_end", draft.quiet_end),
            ("send_at", draft.send_at),
        )
        if v
    }
    offer: dict[str, object] = {
        "description": draft.offer,
        "product_ids": draft.product_ids,
        "discount": draft.discount if draft.discount and 0 < draft.discount < 1 else None,
    }
    # Copy is written at run time by content, per channel brief; here: two variants to test, or one
    # arm per coupon when the goal names several.
    variants: list[dict[str, object]] = [{"key": "A"}, {"key": "B"}]
    if coupons:
        offer |= _coupon_offer(*coupons[0])
    if coupons and len(coupons) > 1:
        same = len({t for t, _ in coupons}) == 1
        variants = [{"key": _coupon_key(t, a, same), "offer": _coupon_offer(t, a)} for t, a in coupons]
    spec: dict[str, object] = {
        "name": draft.name,
        "goal": draft.goal,
        "language": language,
        "audience": {k: v for k, v in audience.items() if v is not None},
        "offer": offer,
        "channels": [{"name": c, "variants": variants} for c in dict.fromkeys(draft.channels)],
        "caps": {"max_messages": draft.max_messages} if draft.max_messages else {},
        "schedule": schedule,
    }
    if draft.holdout_share is not None:
        spec["holdout_share"] = _share(draft.holdout_share)
    return parse_spec(spec, source="planned spec")


def create_checked(
    settings: Settings, spec: CampaignSpec, *, source: str = "campaign spec", campaign_id: str | None = None
) -> tuple[str, int]:
    """Store `spec` as a new draft campaign once the data has everything it names (as `campaign
    create` and `POST /v1/campaigns` do); returns (campaign id, audience size). Nothing is stored when
    a problem is found: ValidationFailed lists them all."""
    from marketpilot.campaigns.service import create_campaign
    from marketpilot.campaigns.state.db import open_state

    problems, size = validate_against_data(settings, spec)
    if problems:
        raise ValidationFailed(problems, source=source)
    return create_campaign(open_state(settings), spec, campaign_id=campaign_id, audience_size=size), size


def validate_against_data(
    settings: Settings, spec: CampaignSpec, *, now: dt.datetime | None = None
) -> tuple[list[str], int]:
    """Problems with what the data does not have (names, customer ids, intel outputs the rules need, a
    send time already past), and the audience size by the real query."""
    source = AudienceSource(settings)
    problems = []
    known_segments = source.segments()
    for name in spec.audience.segments:
        if name not in known_segments:
            problems.append(
                f"audience.segments: no segment named {name!r} (known: {known_segments or 'none'})"
            )
    known_classes = source.rfm_classes()
    for name in spec.audience.rfm_classes:
        if name not in known_classes:
            problems.append(f"audience.rfm_classes: no RFM class {name!r} (known: {known_classes or 'none'})")
    problems += [f"audience: {source.describe_missing(f)}" for f in source.missing(spec.audience)]
    with Store.open(settings) as store:
        offers = {"offer": spec.offer} | {
            f"variants.{v.key}.offer": v.offer for plan in spec.channels for v in plan.variants if v.offer
        }
        wanted = sorted({p for offer in offers.values() for p in offer.product_ids})
        if wanted:
            found = set(
                store.query(
                    "SELECT product_id FROM products WHERE product_id IN (SELECT unnest(?))", [wanted]
                )["product_id"]
            )
            problems += [
                f"{where}.product_ids: no product {p!r}"
                for where, offer in offers.items()
                for p in offer.product_ids
                if p not in found
            ]
        for rule in ("include", "exclude"):
            ids = getattr(spec.audience, rule)
            if ids:
                known = set(
                    store.query(
                        "SELECT customer_id FROM customers WHERE customer_id IN (SELECT unnest(?))", [ids]
                    )["customer_id"]
                )
                problems += [f"audience.{rule}: no customer {c!r}" for c in ids if c not in known]
    send_at = spec.schedule.send_at
    if send_at is not None and send_at < (now or dt.datetime.now(dt.UTC)):
        problems.append(f"schedule.send_at: {send_at.isoformat()} is in the past")
    size = 0
    if not problems:
        try:
            size = source.count(spec.audience)
        except UserError as exc:
            problems.append(str(exc))
    return problems, size


def plan_campaign(settings: Settings, goal: str, *, client=None, language: str | None = None) -> Plan:  # type: ignore[no-untyped-def]
    from marketpilot.llm import get_client, load_prompt

    if not goal.strip():
        raise UserError(
            "The campaign goal is empty.", hint='marketpilot campaign plan "春节前唤醒90天未购的高价值客户"'
        )
    language = language or detect_language(goal)
    source = AudienceSource(settings)
    products = _products(settings)
    prompt = load_prompt("campaign_plan", language)
    messages = prompt.render(
        goal=goal,
        segments=", ".join(source.segments()) or "(none)",
        rfm_classes=", ".join(source.rfm_classes()) or "(none)",
        products="; ".join(f"{k}: {v}" for k, v in products.items()) or "(none)",
        channels="email, sms, push, webhook, export",
        today=dt.date.today().isoformat(),
    )
    client = client or get_client(settings)
    completion = client.complete(
        messages, schema=PlanDraft, temperature=0.2, max_tokens=700, seed=0, prompt=prompt.ref
    )
    draft: PlanDraft = completion.parsed
    # Small models often leave the discount null or write 8 for 8折; the goal's own figure is the fact.
    stated = stated_discount(goal)
    if stated is not None and draft.discount != stated:
        draft = draft.model_copy(update={"discount": stated})
    draft, dropped = ground_in_goal(draft, goal)
    # The small model often leaves out "90天未购" (the README's own example came back with no rule, so
    # the plan reached every customer); a recency the goal states is the band, as written.
    silent, within = stated_recency(goal)
    if silent is not None or within is not None:
        draft = draft.model_copy(update={"recency_days_min": silent, "recency_days_max": within})
    spec = draft_to_spec(draft, language, stated_coupons(goal))
    problems, size = validate_against_data(settings, spec)
    if problems:
        raise ValidationFailed(
            problems,
            source="planned campaign",
            hint="Rephrase the goal with names from `marketpilot segment` / the catalogue, run the "
            "commands named above, or edit the spec YAML and use `campaign create --spec FILE`.",
        )
    band = spec.audience.clv_percentile
    clv_range = source.clv_range(band) if band is not None else None
    return Plan(
        spec=spec, audience_size=size, draft=draft, language=language, clv_range=clv_range, dropped=dropped
    )
