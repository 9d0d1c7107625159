"""`campaign run`: audience → consent/suppression → channel choice → frequency caps → budget →
holdout/variant assignment → rendering → queued messages → dispatch.

Exactly-once design. Planning writes every assignment and every message row (status `queued`, with a
UNIQUE idempotency key = hash of campaign, version, customer, channel) in ONE transaction, before
anything is sent; a re-run finds the plan and goes straight to dispatch. Dispatch marks a batch
`sending` (commit), hands it to the channel, then marks it `sent` (commit). A crash between the two
commits leaves `sending` rows, which the next run sends again FIRST, with the same key: delivery to
the receiver is at-least-once, and receivers dedupe on the key (SMTP Message-ID, webhook
Idempotency-Key, export key column), which makes the effect exactly-once. No message is lost: a row
exists before its send and only `sent` ends its life.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sqlalchemy import Engine, and_, bindparam, func, insert, select, update
from sqlalchemy import text as sql_text
from sqlalchemy.exc import DBAPIError

from marketpilot.campaigns import service
from marketpilot.campaigns.assign import HOLDOUT, assign_arms, choose_channels, thompson_arms, unit_hash
from marketpilot.campaigns.audience import AudienceSource
from marketpilot.campaigns.bandit import channel_priors, given_evidence, pooled_evidence
from marketpilot.campaigns.channels import (
    ChannelAdapter,
    ChannelSettings,
    OutgoingMessage,
    RateLimiter,
    channel_settings,
    create_channel,
)
from marketpilot.campaigns.copy import ChannelCopy, resolve_copy
from marketpilot.campaigns.spec import CampaignSpec
from marketpilot.campaigns.state.db import open_state
from marketpilot.campaigns.state.models import Assignment, MessageRecord, TrackingEvent, utcnow
from marketpilot.config import Settings
from marketpilot.content.channels import ChannelSpec, channel_specs
from marketpilot.content.generate import Variant as ContentVariant
from marketpilot.content.guardrails.length import sms_message
from marketpilot.content.render.labels import metadata_json
from marketpilot.content.slots import message_metadata, render_batch
from marketpilot.errors import ConflictError, UserError
from marketpilot.privacy.consent import contact_permissions

Clock = Callable[[], dt.datetime]
ACTIVE = ("queued", "sending", "sent")
MAX_ATTEMPTS = 3
_IN_CHUNK = 5000  # ids per IN (...) list: below every backend's bound-parameter limit


@dataclass
class PlanSummary:
    audience: int = 0
    no_channel: int = 0
    capped: int = 0
    over_budget: int = 0
    holdout: int = 0
    queued: int = 0
    not_personalised: int = 0
    llm_calls: int = 0
    arms: dict[str, int] = field(default_factory=dict)
    channels: dict[str, int] = field(default_factory=dict)
    # channel → arm key left without copy there → why, and where its share of the channel went
    no_copy: dict[str, dict[str, str]] = field(default_factory=dict)


@dataclass
class RunResult:
    campaign_id: str
    version: int
    planned: bool  # False when a previous (possibly crashed) run had already planned this version
    plan: PlanSummary
    sent: int = 0
    failed: int = 0
    resent_after_crash: int = 0
    pending: int = 0  # messages still queued: held by the schedule (quiet hours, send_at) or an outage
    deferred_until: dt.datetime | None = None  # when they may go: the next allowed send time
    # channel → why it stopped sending (its receiver down, timing out, 5xx); its unsent messages stay
    # queued, counted in `pending`, and the next run resumes them
    errors: dict[str, str] = field(default_factory=dict)


def idempotency_keys(
    campaign_id: str, version: int, customer_ids: pd.Series, channels: pd.Series
) -> pd.Series:
    salt = hashlib.sha256(f"{campaign_id}:{version}".encode()).hexdigest()[:16]
    if customer_ids.empty:
        return pd.Series([], dtype=object)
    h1 = pd.util.hash_pandas_object(
        customer_ids.astype(str) + "\x1f" + channels.astype(str), index=False, hash_key=salt
    )
    h2 = pd.util.hash_pandas_object(
        channels.astype(str) + "\x1f" + customer_ids.astype(str), index=False, hash_key=salt[::-1]
    )
    prefix = salt[:8]
    return (prefix + "-" + h1.map("{:016x}".format) + h2.map("{:016x}".format)).reset_index(drop=True)


def response_history(engine: Engine) -> pd.DataFrame:
    """Per customer and channel: messages sent and how many drew a click or conversion."""
    responded = (
        select(TrackingEvent.idempotency_key)
        .where(TrackingEvent.kind.in_(("click", "conversion")), TrackingEvent.idempotency_key.is_not(None))
        .distinct()
        .subquery()
    )
    stmt = (
        select(
            MessageRecord.customer_id,
            MessageRecord.channel,
            func.count().label("sent"),
            func.count(responded.c.idempotency_key).label("responded"),
        )
        .outerjoin(responded, responded.c.idempotency_key == MessageRecord.idempotency_key)
        .where(MessageRecord.status == "sent")
        .group_by(MessageRecord.customer_id, MessageRecord.channel)
    )
    with engine.connect() as con:
        return pd.DataFrame(con.execute(stmt).all(), columns=["customer_id", "channel", "sent", "responded"])


def recent_message_counts(engine: Engine, since: dt.datetime) -> pd.Series:
    """Messages per customer across ALL campaigns and channels from `since` on (queued ones count)."""
    stmt = (
        select(MessageRecord.customer_id, func.count())
        .where(MessageRecord.status.in_(ACTIVE), MessageRecord.not_before >= since)
        .group_by(MessageRecord.customer_id)
    )
    with engine.connect() as con:
        rows = con.execute(stmt).all()
    return pd.Series({c: n for c, n in rows}, dtype="int64")


def plan_messages(
    settings: Settings,
    engine: Engine,
    campaign_id: str,
    version: int,
    spec: CampaignSpec,
    now: dt.datetime,
    *,
    posteriors: dict[str, tuple[float, float]] | None = None,
    client=None,  # type: ignore[no-untyped-def]
) -> PlanSummary:
    summary = PlanSummary()
    audience = AudienceSource(settings).select(spec.audience).reset_index(drop=True)
    summary.audience = len(audience)
    names = [c.name for c in spec.channels]
    permissions = contact_permissions(
        engine, audience["customer_id"], names, require_opt_in=spec.consent_required
    )
    choice = choose_channels(
        audience, permissions, spec.channels, response_history(engine), overrides=spec.channel_overrides
    )
    audience["channel"], audience["channel_reason"] = choice["channel"], choice["reason"]
    audience["personalised"] = permissions["personalised"].reindex(audience["customer_id"]).to_numpy(bool)
    reachable = audience["channel"].notna()
    summary.no_channel = int((~reachable).sum())
    audience = audience[reachable]

    window_start = now - dt.timedelta(days=spec.caps.frequency_window_days)
    recent = recent_message_counts(engine, window_start).reindex(audience["customer_id"]).fillna(0).to_numpy()
    under_cap = recent < spec.caps.frequency_max
    summary.capped = int((~under_cap).sum())
    audience = audience[under_cap]

    audience = audience.reset_index(drop=True)

    copies = resolve_copy(settings, engine, spec, campaign_id, version, client=client)
    summary.llm_calls = sum(c.llm_calls for c in copies.values())
    # Assignment below draws from each channel's keys with copy, so a key without any gets none of
    # that channel's customers: said here, not left to be noticed in the arm counts.
    summary.no_copy = {name: dict(c.missing) for name, c in copies.items() if c.missing}
    audience["arm"] = HOLDOUT
    evidence = None
    if posteriors is not None:
        evidence = given_evidence(posteriors, copies)
    elif spec.assignment == "thompson" and version > 1:
        evidence = pooled_evidence(engine, campaign_id, version)  # copy resolved by now
    for name, copy in copies.items():
        mask = (audience["channel"] == name).to_numpy()
        ids = audience.loc[mask, "customer_id"]
        post = channel_priors(evidence, name, copy.variants) if evidence else None
        if spec.assignment == "thompson" and post:
            arms = thompson_arms(ids, campaign_id, version, spec.holdout_share, post)
        else:
            arms = assign_arms(ids, campaign_id, spec.holdout_share, copy.weights)
        audience.loc[mask, "arm"] = arms

    if spec.caps.max_messages is not None:
        # Budget: the best-ranked customers (propensity, then a hash tiebreak) up to the last one whose
        # message still fits; holdout customers inside that prefix stay, so both groups come from the
        # same ranked population and treated messages never exceed max_messages.
        score = audience["propensity"].astype(float).fillna(-1.0).to_numpy()
        tiebreak = unit_hash(audience["customer_id"], f"{campaign_id}:budget")
        order = np.lexsort((tiebreak, -score))
        treated_so_far = np.cumsum(audience["arm"].to_numpy()[order] != HOLDOUT)
        keep = int(np.searchsorted(treated_so_far, spec.caps.max_messages, side="right"))
        summary.over_budget = len(audience) - keep
        audience = audience.iloc[np.sort(order[:keep])].reset_index(drop=True)

    treated = audience[audience["arm"] != HOLDOUT]
    bodies = _render(settings, spec, treated, copies)
    not_before = {
        p.name: spec.schedule.next_send_time(now) if create_channel_is_customer_facing(p.name) else now
        for p in spec.channels
    }
    keys = idempotency_keys(campaign_id, version, treated["customer_id"], treated["channel"])
    messages = _records(
        {
            "campaign_id": campaign_id,
            "version": version,
            "status": "queued",
            "attempts": 0,
            "created_at": now,
        },
        idempotency_key=keys.to_numpy(),
        customer_id=treated["customer_id"].to_numpy(),
        channel=treated["channel"].to_numpy(),
        variant_key=treated["arm"].to_numpy(),
        subject=bodies["subject"].to_numpy(),
        body=bodies["body"].to_numpy(),
        aigc_metadata=bodies["aigc_metadata"].to_numpy(),
        not_before=treated["channel"].map(not_before).to_numpy(),
    )
    segment = audience["segment"]
    assignments = _records(
        {"campaign_id": campaign_id, "version": version, "assigned_at": now},
        customer_id=audience["customer_id"].to_numpy(),
        arm=audience["arm"].to_numpy(),
        channel=audience["channel"].to_numpy(),
        channel_reason=audience["channel_reason"].to_numpy(),
        personalised=audience["personalised"].to_numpy(bool).tolist(),
        segment=segment.astype(object).where(segment.notna(), None).to_numpy(),
    )
    with engine.begin() as con:
        # The plan is all-or-nothing: assignments and queued messages land together or not at all.
        for start in range(0, len(assignments), 50_000):
            con.execute(insert(Assignment), assignments[start : start + 50_000])
        for start in range(0, len(messages), 50_000):
            con.execute(insert(MessageRecord), messages[start : start + 50_000])
    summary.holdout = int((audience["arm"] == HOLDOUT).sum())
    summary.queued = len(messages)
    summary.not_personalised = int((~audience["personalised"].astype(bool)).sum())
    summary.arms = audience["arm"].value_counts().to_dict()
    summary.channels = audience["channel"].value_counts().to_dict()
    return summary


def _records(constants: dict[str, object], **columns: object) -> list[dict[str, object]]:
    """Row dicts for an executemany insert, built column-wise (DataFrame.to_dict is several times slower)."""
    names = list(columns)
    return [
        {**constants, **dict(zip(names, row, strict=True))} for row in zip(*columns.values(), strict=True)
    ]


def create_channel_is_customer_facing(name: str) -> bool:
    return name != "export"


def _framed(variant: ContentVariant, spec: CampaignSpec) -> ContentVariant:
    """SMS carry the 【shop】 signature and the carrier's opt-out text: added to the template once, so
    the per-customer rendering stays vectorised."""
    if variant.channel != "sms":
        return variant
    text = sms_message(variant.text, shop_name=spec.shop_name, language=variant.language)
    return variant.model_copy(update={"text": text})


def _aigc_json(variant: ContentVariant, spec: CampaignSpec, specs: dict[str, ChannelSpec]) -> str | None:
    """The AIGC metadata of a model-written variant (None for a person's copy or a channel configured
    without it), taken before SMS framing: its ProduceID is the hash of the generated text, as content's
    own render_message gives it, and the signature and opt-out text are not generation."""
    if variant.channel == "email_body":
        # An e-mail is a file, and files always carry their metadata (content's render/email.py too).
        specs = {**specs, "email_body": specs["email_body"].model_copy(update={"ai_metadata": True})}
    meta = message_metadata(variant, propagator=spec.shop_name, specs=specs)
    return metadata_json(meta) if meta else None


def _render(
    settings: Settings, spec: CampaignSpec, treated: pd.DataFrame, copies: dict[str, ChannelCopy]
) -> pd.DataFrame:
    """Slot filling per customer with content's vectorised renderer; opted-out customers (PIPL Art. 24)
    get the channel's generic variant, or the same copy with neutral wording. Each message also gets
    the AIGC metadata of the variant it was filled from (one JSON per variant, as render_batch gives it)."""
    out = pd.DataFrame(
        {c: pd.Series(dtype=object) for c in ("body", "subject", "aigc_metadata")}, index=treated.index
    )
    if treated.empty:
        return out
    specs = channel_specs()  # the [content.ai_label.<channel>] settings of marketpilot.toml
    slots = AudienceSource(settings).slots(treated["customer_id"])
    slots.index = treated.index
    frame = pd.DataFrame(
        {"name": slots["name"].where(slots["name"].notna(), None), "personalise": treated["personalised"]},
        index=treated.index,
    )
    for (channel, arm), group in treated.groupby(["channel", "arm"], sort=False):
        copy = copies[channel]
        rows = frame.loc[group.index]
        personal = rows["personalise"].to_numpy(bool)
        generic = copy.generic or copy.variants[arm]
        for mask, variant in ((personal, copy.variants[arm]), (~personal, generic)):
            index = group.index[mask]
            out.loc[index, "body"] = render_batch(_framed(variant, spec), rows[mask])
            out.loc[index, "aigc_metadata"] = _aigc_json(variant, spec, specs)
        out.loc[group.index, "subject"] = copy.subjects.get(arm)
    return out


def _set_status(con, ids: list[int], **values: object) -> None:  # type: ignore[no-untyped-def]
    for start in range(0, len(ids), _IN_CHUNK):
        con.execute(
            update(MessageRecord).where(MessageRecord.id.in_(ids[start : start + _IN_CHUNK])).values(**values)
        )


def dispatch(
    settings: Settings,
    engine: Engine,
    campaign_id: str,
    version: int,
    spec: CampaignSpec,
    *,
    clock: Clock = utcnow,
    options: ChannelSettings | None = None,
    result: RunResult,
) -> None:
    """Send every due message of this campaign version; `sending` leftovers of a crash go first."""
    options = options or channel_settings()
    source = AudienceSource(settings)
    _depersonalise_revoked(settings, engine, campaign_id, version, spec)
    for plan in spec.channels:
        adapter = create_channel(plan.name, settings, options)
        _drop_withdrawn(engine, campaign_id, version, plan.name, spec.consent_required)
        contacts = _contacts(engine, source, campaign_id, version, plan.name)
        try:
            outage = _dispatch_channel(
                engine,
                campaign_id,
                version,
                spec,
                adapter,
                contacts,
                clock,
                settings.dispatch_rate_per_s,
                result,
            )
        finally:
            adapter.close()
        if outage:
            result.errors[plan.name] = outage
    waiting = and_(
        MessageRecord.campaign_id == campaign_id,
        MessageRecord.version == version,
        MessageRecord.status.in_(("queued", "sending")),
    )
    with engine.connect() as con:
        result.pending = con.execute(select(func.count()).where(waiting)).scalar_one()
        # What a channel that failed left waits for a re-run, the rest for the schedule.
        held, first_due = con.execute(
            select(func.count(), func.min(MessageRecord.not_before)).where(
                waiting, MessageRecord.channel.not_in(list(result.errors))
            )
        ).one()
    result.deferred_until = spec.schedule.next_send_time(max(clock(), first_due)) if held else None


def _dispatch_channel(
    engine: Engine,
    campaign_id: str,
    version: int,
    spec: CampaignSpec,
    adapter: ChannelAdapter,
    contacts: pd.DataFrame | None,
    clock: Clock,
    rate: float,
    result: RunResult,
) -> str | None:
    """Send the channel's due messages, `sending` leftovers first; stops at a receiver outage and
    returns its error (the unsent messages stay queued for the next run)."""
    limiter = RateLimiter(rate) if adapter.customer_facing else None
    for status in ("sending", "queued"):
        while True:
            now = clock()
            if adapter.customer_facing and spec.schedule.in_quiet_hours(now):
                break
            base = and_(
                MessageRecord.campaign_id == campaign_id,
                MessageRecord.version == version,
                MessageRecord.channel == adapter.name,
                MessageRecord.status == status,
                MessageRecord.not_before <= now,
            )
            with engine.begin() as con:
                rows = con.execute(
                    select(MessageRecord).where(base).order_by(MessageRecord.id).limit(adapter.batch_size)
                ).all()
                ids = [r.id for r in rows]
                if not ids:
                    break
                _set_status(con, ids, status="sending", attempts=MessageRecord.attempts + 1)
            if status == "sending":
                result.resent_after_crash += len(ids)
            batch = _outgoing(rows, contacts, adapter.name)
            if limiter:
                limiter.acquire(len(batch))
            outage = _record(engine, rows, adapter.send(batch), result)
            if outage:
                return outage
    return None


def _drop_withdrawn(engine: Engine, campaign_id: str, version: int, channel: str, opt_in: bool) -> None:
    """Consent and suppressions as they stand now, not as they stood at planning: a customer who
    revoked or unsubscribed while a message waited for quiet hours, send_at or a crash re-run is not
    sent it. The row stays (status `withdrawn`): the customer keeps their arm in the measurement."""
    pending = and_(
        MessageRecord.campaign_id == campaign_id,
        MessageRecord.version == version,
        MessageRecord.channel == channel,
        MessageRecord.status.in_(("queued", "sending")),
    )
    with engine.connect() as con:
        ids = pd.Series(con.execute(select(MessageRecord.customer_id).where(pending)).scalars().all())
    if ids.empty:
        return
    allowed = contact_permissions(engine, ids, [channel], require_opt_in=opt_in)[channel]
    blocked = allowed.index[~allowed.to_numpy(bool)].tolist()
    with engine.begin() as con:
        for start in range(0, len(blocked), _IN_CHUNK):
            con.execute(
                update(MessageRecord)
                .where(pending, MessageRecord.customer_id.in_(blocked[start : start + _IN_CHUNK]))
                .values(status="withdrawn", error="consent revoked or suppressed after planning")
            )


def _depersonalise_revoked(
    settings: Settings, engine: Engine, campaign_id: str, version: int, spec: CampaignSpec
) -> None:
    """A customer who revoked consent to personalised marketing (PIPL Art. 24) while their message
    waited gets the version's non-personalised copy instead, rendered from the copy the version was
    planned with (recorded, so no LLM call). Their assignment says so too, so that variant scoring
    counts the message as the generic one it now is."""
    pending = and_(
        MessageRecord.campaign_id == campaign_id,
        MessageRecord.version == version,
        MessageRecord.status.in_(("queued", "sending")),
    )
    stmt = (
        select(MessageRecord.id, MessageRecord.customer_id, MessageRecord.channel, MessageRecord.variant_key)
        .join(
            Assignment,
            and_(
                Assignment.campaign_id == MessageRecord.campaign_id,
                Assignment.version == MessageRecord.version,
                Assignment.customer_id == MessageRecord.customer_id,
            ),
        )
        .where(pending, Assignment.personalised.is_(True))
    )
    with engine.connect() as con:
        rows = pd.DataFrame(con.execute(stmt).all(), columns=["id", "customer_id", "channel", "arm"])
    if rows.empty:
        return
    now = contact_permissions(engine, rows["customer_id"].drop_duplicates(), [])["personalised"]
    rows = rows[~now.reindex(rows["customer_id"].astype(str)).to_numpy(bool)]
    if rows.empty:
        return
    copies = resolve_copy(settings, engine, spec, campaign_id, version)
    bodies = _render(settings, spec, rows.assign(personalised=False), copies)
    updates = [
        {"_id": int(i), "_body": b, "_subject": s, "_meta": m}
        for i, b, s, m in zip(
            rows["id"], bodies["body"], bodies["subject"], bodies["aigc_metadata"], strict=True
        )
    ]
    with engine.begin() as con:
        con.execute(
            update(MessageRecord)
            .where(MessageRecord.id == bindparam("_id"))
            .values(body=bindparam("_body"), subject=bindparam("_subject"), aigc_metadata=bindparam("_meta")),
            updates,
        )
        customers = rows["customer_id"].drop_duplicates().tolist()
        for start in range(0, len(customers), _IN_CHUNK):
            con.execute(
                update(Assignment)
                .where(
                    Assignment.campaign_id == campaign_id,
                    Assignment.version == version,
                    Assignment.customer_id.in_(customers[start : start + _IN_CHUNK]),
                )
                .values(personalised=False)
            )


def _contacts(
    engine: Engine, source: AudienceSource, campaign_id: str, version: int, channel: str
) -> pd.DataFrame | None:
    """Addresses of every customer with a pending message on this channel, read once per dispatch."""
    if channel not in ("email", "sms"):
        return None
    with engine.connect() as con:
        ids = (
            con.execute(
                select(MessageRecord.customer_id).where(
                    MessageRecord.campaign_id == campaign_id,
                    MessageRecord.version == version,
                    MessageRecord.channel == channel,
                    MessageRecord.status.in_(("queued", "sending")),
                )
            )
            .scalars()
            .all()
        )
    return source.slots(pd.Series(ids, dtype=object)).set_index("customer_id")


def _outgoing(rows: list, contacts: pd.DataFrame | None, channel: str) -> list[OutgoingMessage]:
    out = []
    for r in rows:
        email = phone = None
        if contacts is not None and r.customer_id in contacts.index:
            email = contacts.at[r.customer_id, "email"] if channel == "email" else None
            phone = contacts.at[r.customer_id, "phone"] if channel == "sms" else None
        out.append(
            OutgoingMessage(
                idempotency_key=r.idempotency_key,
                campaign_id=r.campaign_id,
                version=r.version,
                customer_id=r.customer_id,
                channel=r.channel,
                variant_key=r.variant_key,
                body=r.body,
                subject=r.subject,
                aigc_metadata=r.aigc_metadata,
                email=email if isinstance(email, str) else None,
                phone=phone if isinstance(phone, str) else None,
            )
        )
    return out


def _record(engine: Engine, rows, outcomes, result: RunResult) -> str | None:  # type: ignore[no-untyped-def]
    """Store what the channel did with a batch; returns the error of a receiver outage, if any. The
    message that met the outage and those after it (not tried) wait queued without an attempt counted:
    the receiver failed, not they, and however many runs it stays down, they are not given up."""
    by_key = {o.idempotency_key: o for o in outcomes}
    outage = next((o.error or "receiver unavailable" for o in outcomes if o.outage), None)
    sent, retry, waiting, failed = [], [], [], []
    for m in rows:
        outcome = by_key.get(m.idempotency_key)
        if outcome is not None and outcome.ok:
            sent.append(m.id)
        elif outage and (outcome is None or outcome.outage):
            waiting.append(m.id)
        elif m.attempts + 1 >= MAX_ATTEMPTS:
            failed.append((m.id, outcome.error if outcome else "no result"))
        else:
            retry.append(m.id)
    with engine.begin() as con:
        _set_status(con, sent, status="sent", sent_at=utcnow(), error=None)
        _set_status(con, retry, status="queued")
        _set_status(con, waiting, status="queued", attempts=MessageRecord.attempts - 1)
        for mid, error in failed:
            con.execute(
                update(MessageRecord).where(MessageRecord.id == mid).values(status="failed", error=error)
            )
    result.sent += len(sent)
    result.failed += len(failed)
    return outage


def run_campaign(
    settings: Settings,
    campaign_id: str,
    *,
    clock: Clock = utcnow,
    options: ChannelSettings | None = None,
    client=None,  # type: ignore[no-untyped-def]
    posteriors: dict[str, tuple[float, float]] | None = None,
    wait: bool = False,
    sleep: Callable[[float], None] = time.sleep,
    on_wait: Callable[[RunResult], None] | None = None,
) -> RunResult:
    """Plan (once per version) and dispatch the approved current version of a campaign. Safe to re-run
    after a crash: it resumes where the last run stopped. Messages the schedule holds back (quiet hours,
    send_at) stay queued; `wait` sleeps until the next allowed send time and sends them then. A run
    started while another run of the campaign is going is refused (`ConflictError`)."""
    # Read first: a channel setting that does not validate is refused before any state is touched.
    options = options or channel_settings()
    engine = open_state(settings)
    service.get_spec(engine, campaign_id)  # an unknown id is a NotFoundError, and leaves no lock file
    with _running_alone(settings, campaign_id), _running_alone_on(engine, campaign_id):
        return _run_campaign(
            settings, engine, campaign_id, clock, options, client, posteriors, wait, sleep, on_wait
        )


def _busy(campaign_id: str) -> ConflictError:
    return ConflictError(
        f"Campaign {campaign_id} is being run right now (another `campaign run` or API call).",
        hint="Wait for that run to finish, then run it again: nothing already sent is sent twice.",
    )


@contextmanager
def _running_alone(settings: Settings, campaign_id: str) -> Iterator[None]:
    """One run of a campaign at a time per home (API worker threads and processes, the CLI): a second
    run would plan the same assignments (IntegrityError) or re-send the first's in-flight `sending`
    batch, which only a crashed run leaves behind. An OS file lock, so a killed run releases it."""
    import fcntl  # POSIX: the servers this runs on

    locks = settings.home_dir / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    name = hashlib.sha256(campaign_id.encode()).hexdigest()[:24]  # any id, any file system
    with (locks / f"campaign-{name}.lock").open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _busy(campaign_id) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def _running_alone_on(engine: Engine, campaign_id: str) -> Iterator[None]:
    """On a PostgreSQL state, also across machines (API servers and workers with their own homes):
    a session advisory lock keyed by the schema and the campaign, held on its own connection for the
    run, which the server releases when that connection dies with a killed run."""
    if engine.dialect.name != "postgresql":
        yield
        return
    key = "hashtextextended(current_schema() || '/campaign-run/' || :cid, 0)"
    # Autocommit: a connection left idle in a transaction for the whole run would be closed by a server
    # with idle_in_transaction_session_timeout, silently letting the lock go mid-run.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as con:
        if not con.execute(sql_text(f"SELECT pg_try_advisory_lock({key})"), {"cid": campaign_id}).scalar():
            raise _busy(campaign_id)
        try:
            yield
        finally:
            try:
                con.execute(sql_text(f"SELECT pg_advisory_unlock({key})"), {"cid": campaign_id})
            except DBAPIError:  # the connection died: the server let the lock go with it
                con.invalidate()


def _run_campaign(
    settings: Settings,
    engine: Engine,
    campaign_id: str,
    clock: Clock,
    options: ChannelSettings,
    client,  # type: ignore[no-untyped-def]
    posteriors: dict[str, tuple[float, float]] | None,
    wait: bool,
    sleep: Callable[[float], None],
    on_wait: Callable[[RunResult], None] | None,
) -> RunResult:
    spec, version = service.get_spec(engine, campaign_id)
    if not service.is_approved(engine, campaign_id, version):
        raise UserError(
            f"Campaign {campaign_id} version {version} is not approved.",
            hint=f"Review it with `marketpilot campaign show {campaign_id}`, "
            f"then `marketpilot campaign approve {campaign_id} --by NAME`.",
        )
    # A channel's configuration (the gateway URL sms needs) is checked before anything is planned or
    # the campaign marked running: a run refused for it leaves the campaign approved with nothing
    # queued, so the same command runs it once the configuration is fixed. Adapters connect lazily.
    for plan in spec.channels:
        create_channel(plan.name, settings, options).close()
    with engine.connect() as con:
        planned = con.execute(
            select(func.count()).where(Assignment.campaign_id == campaign_id, Assignment.version == version)
        ).scalar_one()
    result = RunResult(campaign_id, version, planned=not planned, plan=PlanSummary())
    if not planned:
        result.plan = plan_messages(
            settings, engine, campaign_id, version, spec, clock(), posteriors=posteriors, client=client
        )
    service.set_status(engine, campaign_id, "running")
    dispatch(settings, engine, campaign_id, version, spec, clock=clock, options=options, result=result)
    while wait and result.pending and result.deferred_until is not None and not result.errors:
        if on_wait:
            on_wait(result)
        delay = (result.deferred_until - clock()).total_seconds()
        sleep(max(delay, 0.0))
        before = result.sent + result.failed
        dispatch(settings, engine, campaign_id, version, spec, clock=clock, options=options, result=result)
        if delay <= 0 and result.sent + result.failed == before:
            break  # due and yet nothing went: waiting longer would not help
    if result.pending == 0:
        service.set_status(engine, campaign_id, "sent")
    return result
