"""Consent and suppression: who may be contacted on which channel, and who opted out of
personalisation (PIPL Art. 24). Records are append-only with their source and time; the latest record
per customer and channel wins. Suppressions (unsubscribed, bounced, complained, do-not-contact) always
win over consent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Literal

import pandas as pd
from sqlalchemy import Engine, func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from marketpilot.campaigns.state.models import ConsentRecord, Suppression, utcnow
from marketpilot.errors import UserError

ConsentStatus = Literal["granted", "revoked"]
SuppressionReason = Literal["unsubscribed", "bounced", "complained", "do_not_contact"]
SUPPRESSION_REASONS: tuple[str, ...] = SuppressionReason.__args__  # type: ignore[attr-defined]
PERSONALISATION = "personalisation"  # the consent "channel" for personalised marketing
ALL_CHANNELS = "*"


def record_consent(
    engine: Engine,
    customer_ids: Iterable[str],
    channel: str,
    status: ConsentStatus,
    *,
    source: str,
    at: dt.datetime | None = None,
) -> int:
    """Append one consent record per customer (e.g. channel='sms', status='revoked', source='reply R')."""
    if status not in ("granted", "revoked"):
        raise UserError(f"Consent status must be 'granted' or 'revoked', not {status!r}.")
    when = at or utcnow()
    rows = [
        {"customer_id": c, "channel": channel, "status": status, "source": source, "recorded_at": when}
        for c in customer_ids
    ]
    if rows:
        with engine.begin() as con:
            con.execute(insert(ConsentRecord), rows)
    return len(rows)


def suppress(
    engine: Engine,
    customer_ids: Iterable[str],
    reason: SuppressionReason,
    *,
    channel: str = ALL_CHANNELS,
    source: str,
) -> int:
    """Add customers to the suppression list; adding one twice is a no-op."""
    if reason not in SUPPRESSION_REASONS:
        raise UserError(f"Unknown suppression reason {reason!r}.", hint=f"Use one of {SUPPRESSION_REASONS}.")
    rows = [
        {"customer_id": c, "channel": channel, "reason": reason, "source": source, "created_at": utcnow()}
        for c in dict.fromkeys(customer_ids)
    ]
    if not rows:
        return 0
    dialect = engine.dialect.name
    stmt = (pg_insert if dialect == "postgresql" else sqlite_insert)(Suppression).on_conflict_do_nothing()
    with engine.begin() as con:
        con.execute(stmt, rows)
    return len(rows)


def latest_consent(engine: Engine) -> pd.DataFrame:
    """The latest consent status per (customer_id, channel)."""
    ranked = select(
        ConsentRecord.customer_id,
        ConsentRecord.channel,
        ConsentRecord.status,
        func.row_number()
        .over(
            partition_by=(ConsentRecord.customer_id, ConsentRecord.channel),
            order_by=(ConsentRecord.recorded_at.desc(), ConsentRecord.id.desc()),
        )
        .label("rn"),
    ).subquery()
    stmt = select(ranked.c.customer_id, ranked.c.channel, ranked.c.status).where(ranked.c.rn == 1)
    with engine.connect() as con:
        return pd.DataFrame(con.execute(stmt).all(), columns=["customer_id", "channel", "status"])


def suppressions(engine: Engine) -> pd.DataFrame:
    with engine.connect() as con:
        rows = con.execute(select(Suppression.customer_id, Suppression.channel, Suppression.reason)).all()
    return pd.DataFrame(rows, columns=["customer_id", "channel", "reason"])


def contact_permissions(
    engine: Engine, customer_ids: pd.Series, channels: list[str], *, require_opt_in: bool = False
) -> pd.DataFrame:
    """A boolean frame (one row per customer, one column per channel): may we contact them there?
    Plus `personalised`: False for customers who revoked consent to personalised marketing.

    Without `require_opt_in`, a customer with no record may be contacted (existing-customer opt-out
    regime); with it, only an explicit 'granted' counts."""
    ids = pd.Index(customer_ids.astype(str), name="customer_id")
    consent = latest_consent(engine)
    consent = consent[consent["customer_id"].isin(ids)]
    status = consent.pivot(index="customer_id", columns="channel", values="status").reindex(ids)
    blocked = suppressions(engine)
    blocked = blocked[blocked["customer_id"].isin(ids)]
    out = pd.DataFrame(index=ids)
    for channel in channels:
        col = status[channel] if channel in status.columns else pd.Series(None, index=ids, dtype=object)
        allowed = col.eq("granted") if require_opt_in else col.ne("revoked")
        hit = blocked[blocked["channel"].isin([channel, ALL_CHANNELS])]["customer_id"]
        out[channel] = allowed.to_numpy() & ~ids.isin(hit)
    personal = status[PERSONALISATION] if PERSONALISATION in status.columns else None
    out["personalised"] = True if personal is None else personal.ne("revoked").to_numpy()
    return out
