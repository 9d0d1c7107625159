"""Tracking: delivery/open/click/conversion events from files (CSV or JSON lines) and from HTTP,
deduplicated by event id, with conversions attributed to the campaign version and arm (holdout
included) the customer was last assigned to within the attribution window.

Event fields: event_id (derived from the row when absent), kind, occurred_at, and at least one of
idempotency_key (the message key: e-mail Message-ID, webhook Idempotency-Key) or customer_id;
optional campaign_id, revenue (major units) or revenue_minor. Bounces, unsubscribes and complaints
also put the customer on the suppression list.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import yaml
from sqlalchemy import Engine, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from marketpilot.campaigns.spec import CampaignSpec, parse_spec
from marketpilot.campaigns.state.models import (
    Assignment,
    CampaignVersion,
    MessageRecord,
    Outcome,
    TrackingEvent,
    utcnow,
)
from marketpilot.data.dates import parse_dates
from marketpilot.data.mapping import parse_amounts
from marketpilot.data.readers import existing_file, read_frame
from marketpilot.errors import UserError, ValidationFailed
from marketpilot.privacy.consent import suppress

KINDS = ("delivered", "open", "click", "conversion", "bounce", "unsubscribe", "complaint")
DEFAULT_WINDOW_DAYS: int = CampaignSpec.model_fields["attribution_window_days"].default
SUPPRESSING = {"bounce": "bounced", "unsubscribe": "unsubscribed", "complaint": "complained"}


@dataclass
class IngestResult:
    received: int
    new: int
    duplicates: int
    attributed: int
    suppressed: int


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


def normalise_events(frame: pd.DataFrame, *, source: str) -> pd.DataFrame:
    """Validate and convert to tracking_events columns; every problem names its row and column."""
    problems: list[str] = []
    frame = frame.copy()
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
    revenue = pd.Series(0, index=frame.index, dtype="int64")
    if "revenue_minor" in frame:
        revenue = pd.to_numeric(frame["revenue_minor"].fillna("").replace("", 0), errors="coerce")
    elif "revenue" in frame:  # major units as people write them: "¥12.50", "1,299.00", "12,50"
        # JSON rows without the field (a click has no revenue) come as NaN: no revenue, as "" is.
        revenue = (parse_amounts(frame["revenue"].fillna("").replace("", 0)) * 100).round()
    problems += [f"row {i + 2}: revenue is not a number" for i in revenue.isna().to_numpy().nonzero()[0][:20]]
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
        }
    )


def ingest_events(engine: Engine, events: pd.DataFrame, *, source: str = "api") -> IngestResult:
    events = normalise_events(events, source=source).drop_duplicates("event_id")
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
    return IngestResult(len(events), len(new), len(events) - len(new), attributed, suppressed)


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


def ingest_file(engine: Engine, path: Path) -> IngestResult:
    return ingest_events(engine, read_events(path), source=str(path))


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


def attribute_conversions(engine: Engine) -> int:
    """Give each unattributed conversion to the customer's latest assignment (any arm, holdout too)
    made before it and within that campaign's attribution window. Returns outcomes written."""
    with engine.connect() as con:
        done = select(Outcome.event_id)
        conversions = pd.DataFrame(
            con.execute(
                select(
                    TrackingEvent.event_id,
                    TrackingEvent.customer_id,
                    TrackingEvent.occurred_at,
                    TrackingEvent.revenue_minor,
                ).where(
                    TrackingEvent.kind == "conversion",
                    TrackingEvent.customer_id.is_not(None),
                    TrackingEvent.event_id.not_in(done),
                )
            ).all(),
            columns=["event_id", "customer_id", "occurred_at", "revenue_minor"],
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
    matched = pd.merge_asof(
        conversions.sort_values("occurred_at"),
        assignments.sort_values("assigned_at"),
        left_on="occurred_at",
        right_on="assigned_at",
        by="customer_id",
        direction="backward",
    ).dropna(subset=["campaign_id"])
    windows = _windows(engine)
    limit = pd.to_timedelta(
        [
            windows.get((c, int(v)), DEFAULT_WINDOW_DAYS)
            for c, v in zip(matched["campaign_id"], matched["version"], strict=True)
        ],
        unit="D",
    )
    matched = matched[(matched["occurred_at"] - matched["assigned_at"]).to_numpy() <= limit.to_numpy()]
    rows = matched.assign(version=matched["version"].astype(int), attributed_at=utcnow())[
        ["event_id", "campaign_id", "version", "customer_id", "arm", "revenue_minor", "attributed_at"]
    ].to_dict("records")
    if rows:
        with engine.begin() as con:
            con.execute(Outcome.__table__.insert(), rows)
    return len(rows)


def serve(engine: Engine, host: str = "127.0.0.1", port: int = 8765) -> ThreadingHTTPServer:
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
                result = ingest_events(engine, pd.DataFrame(rows), source="http")
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
