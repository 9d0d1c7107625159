"""Campaign lifecycle in state: create, new versions, approval, lookup, audit trail."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence

import pandas as pd
from sqlalchemy import Engine, func, insert, select

from marketpilot.campaigns.spec import CampaignSpec, parse_spec
from marketpilot.campaigns.state.db import session_scope
from marketpilot.campaigns.state.models import (
    Approval,
    Assignment,
    Brief,
    Campaign,
    CampaignVersion,
    MessageRecord,
    Outcome,
    VariantRecord,
    utcnow,
)
from marketpilot.errors import NotFoundError, UserError

MAX_APPROVER = 100  # approvals.approver is VARCHAR(100)
MAX_NOTE = 2000  # characters: a sign-off's reason, not a document (the audit trail shows it whole)


def _campaign_id(spec: CampaignSpec) -> str:
    # Letters of any script stay: a Chinese name gave "300-40-…" from 满300减40 or nothing at all.
    slug = re.sub(r"[\W_]+", "-", spec.name.lower()).strip("-")[:24] or spec.goal
    stamp = hashlib.sha256(f"{spec.name}{utcnow().isoformat()}".encode()).hexdigest()[:6]
    return f"{slug}-{stamp}"


def create_campaign(
    engine: Engine, spec: CampaignSpec, *, campaign_id: str | None = None, audience_size: int | None = None
) -> str:
    """Store a new campaign with its spec as version 1 (status draft)."""
    cid = campaign_id or _campaign_id(spec)
    with session_scope(engine) as session:
        if session.get(Campaign, cid) is not None:
            raise UserError(
                f"Campaign {cid!r} already exists.", hint="Use `campaign optimize` for a new version."
            )
        session.add(Campaign(id=cid, name=spec.name, goal=spec.goal, status="draft", current_version=1))
        session.flush()
        session.add(
            CampaignVersion(
                campaign_id=cid,
                version=1,
                spec_version=spec.spec_version,
                spec_yaml=spec.to_yaml(),
                note="created",
                audience_size=audience_size,
            )
        )
    return cid


def add_version(
    engine: Engine,
    campaign_id: str,
    spec: CampaignSpec,
    *,
    note: str,
    variants: Sequence[Mapping[str, object]] = (),
) -> int:
    """A new spec version; it needs its own approval before it runs. `variants` are audit rows for it
    (their version is filled in), written in the same transaction: both land or neither does."""
    with session_scope(engine) as session:
        campaign = _campaign(session, campaign_id)
        version = campaign.current_version + 1
        session.add(
            CampaignVersion(
                campaign_id=campaign_id,
                version=version,
                spec_version=spec.spec_version,
                spec_yaml=spec.to_yaml(),
                note=note,
            )
        )
        campaign.current_version = version
        campaign.status = "draft"
        if variants:
            session.flush()
            session.execute(insert(VariantRecord), [dict(row) | {"version": version} for row in variants])
    return version


def approve(
    engine: Engine, campaign_id: str, *, approver: str, note: str = "", version: int | None = None
) -> int:
    with session_scope(engine) as session:
        campaign = _campaign(session, campaign_id)
        version = version or campaign.current_version
        if version != campaign.current_version:
            raise UserError(f"Only the current version ({campaign.current_version}) can be approved.")
        approver = approver.strip()
        if not approver:
            raise UserError("Name who approves: the audit trail keeps it.")
        if len(approver) > MAX_APPROVER:  # the column's width: PostgreSQL refuses longer names
            raise UserError(f"The approver's name is {len(approver)} characters; at most {MAX_APPROVER}.")
        if len(note) > MAX_NOTE:
            raise UserError(
                f"The approval note is {len(note):,} characters; at most {MAX_NOTE:,}.",
                hint="keep the reason short and link to a document for the details",
            )
        session.add(Approval(campaign_id=campaign_id, version=version, approver=approver, note=note))
        # A second sign-off is recorded, but a version already running or sent stays so.
        if campaign.status == "draft":
            campaign.status = "approved"
    return version


def is_approved(engine: Engine, campaign_id: str, version: int) -> bool:
    with session_scope(engine) as session:
        n = session.scalar(
            select(func.count()).where(Approval.campaign_id == campaign_id, Approval.version == version)
        )
    return bool(n)


def get_spec(engine: Engine, campaign_id: str, version: int | None = None) -> tuple[CampaignSpec, int]:
    with session_scope(engine) as session:
        campaign = _campaign(session, campaign_id)
        version = version or campaign.current_version
        row = session.scalar(
            select(CampaignVersion).where(
                CampaignVersion.campaign_id == campaign_id, CampaignVersion.version == version
            )
        )
        if row is None:
            raise NotFoundError(f"Campaign {campaign_id!r} has no version {version}.")
        text = row.spec_yaml
    return parse_spec(text, source=f"{campaign_id} v{version}"), version


def set_status(engine: Engine, campaign_id: str, status: str) -> None:
    with session_scope(engine) as session:
        _campaign(session, campaign_id).status = status


def list_campaigns(engine: Engine) -> pd.DataFrame:
    with engine.connect() as con:
        rows = con.execute(
            select(
                Campaign.id,
                Campaign.name,
                Campaign.goal,
                Campaign.status,
                Campaign.current_version,
                Campaign.created_at,
            ).order_by(Campaign.created_at)
        ).all()
    return pd.DataFrame(rows, columns=["id", "name", "goal", "status", "version", "created_at"])


def audit_trail(engine: Engine, campaign_id: str) -> dict[str, pd.DataFrame]:
    """Everything that happened to a campaign: specs, approvals, briefs, variants (rejected ones with
    why), assignments, messages and attributed outcomes, one frame each."""
    with session_scope(engine) as session:
        _campaign(session, campaign_id)
    tables = {
        "versions": CampaignVersion,
        "approvals": Approval,
        "briefs": Brief,
        "variants": VariantRecord,
        "assignments": Assignment,
        "messages": MessageRecord,
        "outcomes": Outcome,
    }
    out = {}
    with engine.connect() as con:
        for name, model in tables.items():
            table = model.__table__
            out[name] = pd.read_sql(select(table).where(table.c.campaign_id == campaign_id), con)
    return out


def message_counts(engine: Engine, campaign_id: str) -> list[dict[str, object]]:
    """Messages by version, channel and status (`campaign status`); an unknown campaign is an error."""
    with session_scope(engine) as session:
        _campaign(session, campaign_id)
        rows = session.execute(
            select(MessageRecord.version, MessageRecord.channel, MessageRecord.status, func.count())
            .where(MessageRecord.campaign_id == campaign_id)
            .group_by(MessageRecord.version, MessageRecord.channel, MessageRecord.status)
            .order_by(MessageRecord.version, MessageRecord.channel, MessageRecord.status)
        ).all()
    return [{"version": v, "channel": c, "status": s, "messages": n} for v, c, s, n in rows]


def _campaign(session, campaign_id: str) -> Campaign:  # type: ignore[no-untyped-def]
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFoundError(
            f"No campaign {campaign_id!r}.", hint="List them with `marketpilot campaign list`."
        )
    return campaign
