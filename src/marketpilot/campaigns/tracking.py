"""Tracking: delivery/open/click/conversion events from files (CSV or JSON lines) and from HTTP,
deduplicated by event id, with conversions attributed to the campaign version and arm (holdout
included) the customer was last assigned to within the attribution window: of the campaign the
conversion names, where it names one and that campaign's assignment is within its window.

Event fields: event_id (derived from the row when absent), kind, occurred_at, and at least one of
idempotency_key (the message key: e-mail Message-ID, webhook Idempotency-Key) or customer_id;
optional campaign_id, order_id (a conversion is keyed by its order, so an order ingested twice counts
once), revenue (major units) or revenue_minor (minor units of the shop's currency: fen, yen, fils). A
time without a zone is wall-clock time in the campaign's `schedule.timezone`. Bounces, unsubscribes
and complaints also put the customer on the suppression list.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from sqlalchemy import Engine, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from marketpilot.campaigns.spec import CampaignSpec, parse_spec
from marketpilot.campaigns.state.models import (
    Assignment,
    Campaign,
    CampaignVersion,
    MessageRecord,
    Outcome,
    TrackingEvent,
    utcnow,
)
from marketpilot.data.dates import parse_dates
from marketpilot.data.mapping import parse_amounts
from marketpilot.data.money import minor_digits
from marketpilot.data.readers import existing_file, read_frame
from marketpilot.errors import UserError, ValidationFailed
from marketpilot.privacy.consent import suppress

KINDS = ("delivered", "open", "click", "conversion", "bounce", "unsubscribe", "complaint")
DEFAULT_WINDOW_DAYS: int = CampaignSpec.model_fields["attribution_window_days"].default
SUPPRESSING = {"bounce": "bounced", "unsubscribe": "unsubscribed", "complaint": "complained"}
DEFAULT_ZONE: str = CampaignSpec.model_fields["schedule"].default_factory().timezone  # type: ignore[misc]
# Minor units as exact integers: more than 2**53 fen is no order, and past int64 it wraps negative.
MAX_REVENUE_MINOR = 2**53
# Written with an offset or in UTC; anything else is wall-clock time (Unix times are UTC by definition).
_ZONED = r"(?:Z|[+-]\d{2}:?\d{2}|UTC|GMT)\s*$"
_EPOCH = r"\s*1(?:\d{9}|\d{12})(?:\.\d+)?\s*"


@dataclass
class IngestResult:
    received: int
    new: int
    duplicates: int
    attributed: int
    suppressed: int
    # New conversions no assignment claims: no customer, never assigned, before the send or past the
    # attribution window.
    unattributed: int = 0
    # New conversions with a blank (or no) revenue: counted as conversions worth 0.
    no_revenue: int = 0
    # New events naming a message (idempotency_key) we never sent: another system's, or a typo. Kept,
    # but without a customer id of their own they are nobody's.
    unknown_messages: int = 0


def read_events(path: Path) -> pd.DataFrame:
    """JSON lines, or any table `read_frame` reads (CSV/TSV in UTF-8, GBK or GB18030, Excel, Parquet),
    by extension; empty cells are empty text."""
    if path.suffix.lower() not in (".jsonl", ".ndjson", ".json"):
        return read_frame(path).fillna("")
    raw = existing_file(path).read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = raw.decode("gb18030")
        except UnicodeDecodeError:
            raise UserError(f"{path}: neither UTF-8 nor GB18030 text.", hint="Re-save it as UTF-8.") from None
    if text.lstrip().startswith("["):  # one JSON array, as `POST /events` takes it, not JSON lines
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValidationFailed([f"line {exc.lineno}: not JSON ({exc.msg})"], source=str(path)) from None
        return pd.DataFrame(rows)
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValidationFailed([f"line {number}: not JSON ({exc.msg})"], source=str(path)) from None
    return pd.DataFrame(rows)


def normalise_events(frame: pd.DataFrame, *, source: str, currency: str | None = None) -> pd.DataFrame:
    """Validate and convert to tracking_events columns; every problem names its row and column.
    `currency`: the shop's; a `currency` column naming another is refused (revenue is measured in one
    currency, and no rate is known to convert it), and `revenue` (major units) is stored in its minor
    units (None: hundredths, as for CNY)."""
    problems: list[str] = []
    frame = frame.copy()
    if currency and "currency" in frame:
        named = frame["currency"].fillna("").astype(str).str.strip().str.upper()
        other = (named != "") & (named != currency.upper())
        problems += [
            f"row {i + 2}, column currency: {frame['currency'].iloc[i]!r} is not the shop's currency "
            f"{currency.upper()}: convert the revenue first (MARKETPILOT_CURRENCY sets the shop's)"
            for i in other.to_numpy().nonzero()[0][:20]
        ]
    for column in ("kind", "occurred_at"):
        if column not in frame:
            problems.append(f"column '{column}' is missing")
    if "idempotency_key" not in frame and "customer_id" not in frame:
        problems.append("need a column 'idempotency_key' or 'customer_id'")
    if problems:
        raise ValidationFailed(problems, source=source)
    bad_kind = ~frame["kind"].isin(KINDS)
    problems += [
        f"row {i + 2}, column kind: {frame['kind'].iloc[i]!r} not one of {KINDS}"
        for i in bad_kind.to_numpy().nonzero()[0][:20]
    ]
    when = parse_dates(frame["occurred_at"], column="occurred_at", source=source, utc=True)
    problems += [
        f"row {i + 2}, column occurred_at: cannot read {frame['occurred_at'].iloc[i]!r} as a time"
        for i in when.isna().to_numpy().nonzero()[0][:20]
    ]
    text = frame["occurred_at"].astype(str)
    naive = ~(text.str.contains(_ZONED, case=False, regex=True) | text.str.fullmatch(_EPOCH))
    revenue = pd.Series(0.0, index=frame.index)
    column = "revenue"
    # No revenue at all (no column, an empty cell, a JSON row without the field) reads as 0: counted,
    # so the ingest can say how many conversions are worth nothing only for want of a number.
    blank = pd.Series(True, index=frame.index)
    for name in ("revenue_minor", "revenue"):
        if name in frame:
            blank = frame[name].isna() | (frame[name].astype(str).str.strip() == "")
            break
    if "revenue_minor" in frame:
        column = "revenue_minor"
        revenue = pd.to_numeric(frame["revenue_minor"].fillna("").replace("", 0), errors="coerce")
        problems += [
            f"row {i + 2}: revenue_minor {frame['revenue_minor'].iloc[i]!r} is not a whole number of fen "
            "or cents (write major units as revenue)"
            for i in (revenue % 1 != 0).to_numpy().nonzero()[0][:20]
        ]
    elif "revenue" in frame:  # major units as people write them: "¥12.50", "1,299.00", "12,50"
        # JSON rows without the field (a click has no revenue) come as NaN: no revenue, as "" is.
        # Stored in the shop currency's minor units: ¥1,200 is 1200 in JPY, 120000 fen in CNY.
        unit = 10 ** minor_digits(currency)
        revenue = (parse_amounts(frame["revenue"].fillna("").replace("", 0)) * unit).round()
    numbers = revenue.to_numpy(dtype=float)
    problems += [f"row {i + 2}: {column} is not a number" for i in (~np.isfinite(numbers)).nonzero()[0][:20]]
    problems += [
        f"row {i + 2}: {column} {frame[column].iloc[i]!r} is negative; a refund is not a conversion "
        "(leave it out, or send the order with its net revenue)"
        for i in (numbers < 0).nonzero()[0][:20]
    ]
    problems += [
        f"row {i + 2}: {column} {frame[column].iloc[i]!r} is too large for an order"
        for i in (np.isfinite(numbers) & (numbers > MAX_REVENUE_MINOR)).nonzero()[0][:20]
    ]
    if problems:
        raise ValidationFailed(problems, source=source)

    def col(name: str) -> pd.Series:
        if name not in frame:
            return pd.Series([None] * len(frame), index=frame.index, dtype=object)
        s = frame[name].astype(object)
        return s.where(s.notna() & (s.astype(str) != ""), None)

    if "event_id" in frame:
        event_id = col("event_id")
    else:
        event_id = pd.Series([None] * len(frame), index=frame.index, dtype=object)
    if "order_id" in frame:
        # A conversion is an order: the same order from two exports, or a webhook retried under a new
        # event id, is one conversion, not two.
        order = col("order_id")
        keyed = order.notna() & (frame["kind"] == "conversion")
        event_id = event_id.where(~keyed, "order-" + order.astype(str))
    # Rows without an id get one from their content, so re-ingesting the same file dedupes.
    content = frame.astype(object).where(frame.notna(), "").astype(str)
    hashes = pd.util.hash_pandas_object(content, index=False).map("{:016x}".format).astype(object)
    derived = "row-" + hashes  # object dtype: a header-only file hashes to an empty uint64 series
    return pd.DataFrame(
        {
            "event_id": event_id.fillna(derived).astype(str),
            "kind": frame["kind"].astype(str),
            "customer_id": col("customer_id"),
            "idempotency_key": col("idempotency_key"),
            "campaign_id": col("campaign_id"),
            "occurred_at": when,
            "revenue_minor": revenue.astype("int64"),
            "source": source,
            "naive": naive.to_numpy(dtype=bool),
            "no_revenue": blank.to_numpy(dtype=bool),
        }
    )


def ingest_events(
    engine: Engine, events: pd.DataFrame, *, source: str = "api", currency: str | None = None
) -> IngestResult:
    """Store new events and attribute their conversions; `currency`: the shop's (`normalise_events`)."""
    events = normalise_events(events, source=source, currency=currency)
    received = len(events)  # a row repeated within the file is a duplicate too
    _refuse_far_future(engine, events, source)
    events = events.drop_duplicates("event_id")
    # Fill customer/campaign from the message the event is about.
    keyed = events["idempotency_key"].dropna().unique().tolist()
    if keyed:
        query = select(
            MessageRecord.idempotency_key,
            MessageRecord.customer_id,
            MessageRecord.campaign_id,
            MessageRecord.channel,
        )
        found = _select_in(engine, query, MessageRecord.idempotency_key, keyed)
        found.columns = ["idempotency_key", "m_customer", "m_campaign", "m_channel"]
        events = events.merge(found, on="idempotency_key", how="left")
        events["customer_id"] = events["customer_id"].fillna(events["m_customer"])
        events["campaign_id"] = events["campaign_id"].fillna(events["m_campaign"])
    else:
        events["m_channel"] = None
        found = pd.DataFrame({"idempotency_key": []})
    sent_keys = set(found["idempotency_key"])
    events["unknown_key"] = events["idempotency_key"].notna() & ~events["idempotency_key"].isin(sent_keys)
    named = events["campaign_id"].dropna().unique().tolist()
    found_ids = set(_select_in(engine, select(Campaign.id), Campaign.id, named)["id"]) if named else set()
    unknown = events["campaign_id"].notna() & ~events["campaign_id"].isin(found_ids)
    if unknown.any():
        bad = events.loc[unknown, ["event_id", "campaign_id"]].head(20)
        raise ValidationFailed(
            [f"event {e!r}: no campaign {c!r}" for e, c in bad.itertuples(index=False)],
            source=source,
            total=int(unknown.sum()),
            hint="check the ids against `marketpilot campaign list`, or leave campaign_id out: conversions "
            "are attributed by customer",
        )
    if events["naive"].any():
        events["occurred_at"] = _local_times(engine, events)
    known = _select_in(
        engine, select(TrackingEvent.event_id), TrackingEvent.event_id, events["event_id"].tolist()
    )
    existing = set(known["event_id"])
    new = events[~events["event_id"].isin(existing)]
    rows = new[
        [
            "event_id",
            "kind",
            "customer_id",
            "idempotency_key",
            "campaign_id",
            "occurred_at",
            "revenue_minor",
            "source",
        ]
    ].assign(ingested_at=utcnow())
    records = rows.astype(object).where(rows.notna(), None).to_dict("records")
    if records:
        insert = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert
        with engine.begin() as con:
            con.execute(insert(TrackingEvent).on_conflict_do_nothing(index_elements=["event_id"]), records)
    suppressed = 0
    for kind, reason in SUPPRESSING.items():
        hit = new[(new["kind"] == kind) & new["customer_id"].notna()]
        for channel, group in hit.groupby(hit["m_channel"].fillna("*")):
            suppressed += suppress(
                engine,
                group["customer_id"],
                reason,
                channel=str(channel),  # type: ignore[arg-type]
                source=f"tracking:{source}",
            )
    attributed = attribute_conversions(engine)
    converted = new.loc[new["kind"] == "conversion", "event_id"].tolist()
    claimed = _select_in(engine, select(Outcome.event_id), Outcome.event_id, converted) if converted else None
    unattributed = len(converted) - (0 if claimed is None else len(claimed))
    return IngestResult(
        received,
        len(new),
        received - len(new),
        attributed,
        suppressed,
        unattributed,
        no_revenue=int(((new["kind"] == "conversion") & new["no_revenue"]).sum()),
        unknown_messages=int(new["unknown_key"].sum()),
    )


def _refuse_far_future(engine: Engine, events: pd.DataFrame, source: str) -> None:
    """An event later than the latest send (or now, if later) plus the longest attribution window is
    one no send can claim: a wrong year, or a unit misread. Simulated responses, days after a send,
    stay inside it."""
    days = max([DEFAULT_WINDOW_DAYS, *_windows(engine).values()])
    with engine.connect() as con:
        last_send = con.scalar(select(func.max(Assignment.assigned_at)))
    latest = max(utcnow(), last_send or utcnow())  # aware: UTCDateTime re-attaches the zone
    late = (events["occurred_at"] > pd.Timestamp(latest) + pd.Timedelta(days=days)).to_numpy()
    if late.any():
        raise ValidationFailed(
            [
                f"row {i + 2}, column occurred_at: {events['occurred_at'].iloc[i]:%Y-%m-%d %H:%M} UTC is "
                f"more than {days} days (the longest attribution window) after the last send or now, "
                f"{latest:%Y-%m-%d %H:%M} UTC"
                for i in late.nonzero()[0][:20]
            ],
            source=source,
            total=int(late.sum()),
            hint="check the year, and that Unix times are in seconds (10 digits) or milliseconds (13)",
        )


def _local_times(engine: Engine, events: pd.DataFrame) -> pd.Series:
    """`occurred_at` with times written without a zone read as wall-clock time where the campaign runs
    (its `schedule.timezone`, as `send_at` is): 2024年3月5日 14:00 from a Chinese back office is 06:00
    UTC, not 14:00. Events naming no campaign take the zone every campaign shares, else the default."""
    zones = _zones(engine)
    shared = set(zones.values())
    fallback = shared.pop() if len(shared) == 1 else DEFAULT_ZONE
    zone = events["campaign_id"].map(zones).fillna(fallback)
    out = events["occurred_at"].copy()
    for name, rows in events[events["naive"]].groupby(zone[events["naive"]]):
        wall = rows["occurred_at"].dt.tz_convert(None)
        local = wall.dt.tz_localize(
            str(name), ambiguous=np.ones(len(wall), bool), nonexistent="shift_forward"
        )
        out.loc[rows.index] = local.dt.tz_convert("UTC")
    return out


def _zones(engine: Engine) -> dict[str, str]:
    """Campaign id → the time zone of its latest version's schedule."""
    with engine.connect() as con:
        rows = con.execute(
            select(CampaignVersion.campaign_id, CampaignVersion.spec_yaml).order_by(CampaignVersion.version)
        )
        return {c: _zone(text) for c, text in rows}


def _select_in(engine: Engine, query, column, values: list, chunk: int = 5000) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    """`query WHERE column IN values`, in chunks that stay under every backend's parameter limit."""
    frames = []
    with engine.connect() as con:
        for start in range(0, len(values), chunk):
            result = con.execute(query.where(column.in_(values[start : start + chunk])))
            frames.append(pd.DataFrame(result.all(), columns=list(result.keys())))
    if not frames:
        return pd.DataFrame(columns=[c.name for c in query.selected_columns])
    return pd.concat(frames, ignore_index=True)


def ingest_file(engine: Engine, path: Path, *, currency: str | None = None) -> IngestResult:
    return ingest_events(engine, read_events(path), source=str(path), currency=currency)


def _windows(engine: Engine) -> dict[tuple[str, int], int]:
    with engine.connect() as con:
        rows = con.execute(
            select(CampaignVersion.campaign_id, CampaignVersion.version, CampaignVersion.spec_yaml)
        )
        return {(c, v): _window(text) for c, v, text in rows}


def _window(spec_yaml: str) -> int:
    # A version stored before a schema check was tightened may fail it now; its window still counts,
    # and it must not stop every other campaign's events from being ingested.
    try:
        return parse_spec(spec_yaml).attribution_window_days
    except UserError:
        window = (yaml.safe_load(spec_yaml) or {}).get("attribution_window_days")
        return window if isinstance(window, int) and window > 0 else DEFAULT_WINDOW_DAYS


def _zone(spec_yaml: str) -> str:
    try:
        return parse_spec(spec_yaml).schedule.timezone
    except UserError:  # as in `_window`: an old version must not stop the ingest
        schedule = (yaml.safe_load(spec_yaml) or {}).get("schedule") or {}
        zone = schedule.get("timezone") if isinstance(schedule, dict) else None
        return zone if isinstance(zone, str) and zone else DEFAULT_ZONE


def attribute_conversions(engine: Engine) -> int:
    """Give each unattributed conversion to the customer's latest assignment (any arm, holdout too)
    made before it and within that campaign's attribution window; a conversion naming a campaign (its
    `campaign_id`, or the campaign of the message it is about) goes to the customer's latest assignment
    of that campaign when one is within its window, else by the same rule. Returns outcomes written."""
    with engine.connect() as con:
        done = select(Outcome.event_id)
        conversions = pd.DataFrame(
            con.execute(
                select(
                    TrackingEvent.event_id,
                    TrackingEvent.customer_id,
                    TrackingEvent.campaign_id,
                    TrackingEvent.occurred_at,
                    TrackingEvent.revenue_minor,
                ).where(
                    TrackingEvent.kind == "conversion",
                    TrackingEvent.customer_id.is_not(None),
                    TrackingEvent.event_id.not_in(done),
                )
            ).all(),
            columns=["event_id", "customer_id", "campaign_id", "occurred_at", "revenue_minor"],
        )
        if conversions.empty:
            return 0
    query = select(
        Assignment.campaign_id,
        Assignment.version,
        Assignment.customer_id,
        Assignment.arm,
        Assignment.assigned_at,
    )
    assignments = _select_in(
        engine, query, Assignment.customer_id, conversions["customer_id"].unique().tolist()
    )
    if assignments.empty:
        return 0
    conversions["occurred_at"] = pd.to_datetime(conversions["occurred_at"], utc=True)
    assignments["assigned_at"] = pd.to_datetime(assignments["assigned_at"], utc=True)
    windows = _windows(engine)
    # A customer in two campaigns who buys through one of them (the order names it) is that campaign's
    # conversion, though the other reached them later.
    tagged = conversions[conversions["campaign_id"].notna()]
    named = _claim(tagged, assignments, ["customer_id", "campaign_id"], windows)
    rest = conversions[~conversions["event_id"].isin(named["event_id"])].drop(columns="campaign_id")
    parts = [m for m in (named, _claim(rest, assignments, ["customer_id"], windows)) if not m.empty]
    if not parts:
        return 0
    matched = pd.concat(parts, ignore_index=True)
    rows = matched.assign(version=matched["version"].astype(int), attributed_at=utcnow())[
        ["event_id", "campaign_id", "version", "customer_id", "arm", "revenue_minor", "attributed_at"]
    ].to_dict("records")
    with engine.begin() as con:
        con.execute(Outcome.__table__.insert(), rows)
    return len(rows)


def _claim(
    conversions: pd.DataFrame,
    assignments: pd.DataFrame,
    by: list[str],
    windows: dict[tuple[str, int], int],
) -> pd.DataFrame:
    """Each conversion joined to the latest assignment with the same `by` values made at or before it,
    kept where that assignment's attribution window (its last instant included) still covers it."""
    if conversions.empty:
        return conversions  # merge_asof wants rows to sort; none is claimed
    matched = pd.merge_asof(
        conversions.sort_values("occurred_at"),
        assignments.sort_values("assigned_at"),
        left_on="occurred_at",
        right_on="assigned_at",
        by=by,
        direction="backward",
    ).dropna(subset=["version"])
    limit = pd.to_timedelta(
        [
            windows.get((c, int(v)), DEFAULT_WINDOW_DAYS)
            for c, v in zip(matched["campaign_id"], matched["version"], strict=True)
        ],
        unit="D",
    )
    return matched[(matched["occurred_at"] - matched["assigned_at"]).to_numpy() <= limit.to_numpy()]


def serve(
    engine: Engine, host: str = "127.0.0.1", port: int = 8765, *, currency: str | None = None
) -> ThreadingHTTPServer:
    """A tiny receiver: POST /events with a JSON object or list of events. Returns the server; call
    `serve_forever()` on it (the CLI does)."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            if self.path.rstrip("/") != "/events":
                self.send_error(404, "POST /events")
                return
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            try:
                payload = json.loads(body.decode("utf-8"))
                rows = payload if isinstance(payload, list) else [payload]
                result = ingest_events(engine, pd.DataFrame(rows), source="http", currency=currency)
            except (UnicodeDecodeError, json.JSONDecodeError, UserError) as exc:
                self._reply(400, {"error": str(exc)})
                return
            self._reply(200, result.__dict__)

        def _reply(self, status: int, obj: dict) -> None:
            data = json.dumps(obj, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            return None

    return ThreadingHTTPServer((host, port), Handler)
