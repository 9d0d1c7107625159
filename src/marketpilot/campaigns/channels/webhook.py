"""HTTP POST to an SMS/push gateway (also the `webhook` channel), HMAC-SHA256 signed.

Headers: X-MarketPilot-Signature: sha256=<hex of HMAC(secret, timestamp + "." + body)>,
X-MarketPilot-Timestamp, and Idempotency-Key (single-message POSTs; batches carry a key per message).
Model-written messages carry `aigc_metadata` (a JSON object) inside the signed body.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import asdict

import httpx

from marketpilot.campaigns.channels.base import ChannelSettings, OutgoingMessage, SendResult, register_channel
from marketpilot.config import Settings
from marketpilot.errors import UserError


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify(secret: bytes, timestamp: str, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def _record(message: OutgoingMessage) -> dict[str, object]:
    record: dict[str, object] = {k: v for k, v in asdict(message).items() if v is not None}
    if message.aigc_metadata:
        # An object, not a JSON string inside JSON: the gateway copies it into its extension field.
        record["aigc_metadata"] = json.loads(message.aigc_metadata)
    return record


class WebhookChannel:
    customer_facing = True

    def __init__(self, name: str, settings: Settings, options: ChannelSettings) -> None:
        if not options.webhook_url:
            raise UserError(
                f"The {name} channel needs a gateway URL.", hint="Set MARKETPILOT_WEBHOOK_URL=https://…"
            )
        self.name = name
        self.url = options.webhook_url
        # For error messages: the gateway without credentials or query (a token may sit there).
        parsed = httpx.URL(self.url)
        self.where = f"{parsed.scheme}://{parsed.host}{f':{parsed.port}' if parsed.port else ''}{parsed.path}"
        self.per_message = options.webhook_batch_size <= 1
        # Rows taken from state per round; POSTed one by one or as one batch.
        self.batch_size = 100 if self.per_message else options.webhook_batch_size
        self.secret = settings.secret()
        self.client = httpx.Client(timeout=options.webhook_timeout_s)

    def _post(self, payload: dict, key: str | None) -> httpx.Response:
        body = json.dumps(payload, ensure_ascii=False).encode()
        stamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-MarketPilot-Timestamp": stamp,
            "X-MarketPilot-Signature": sign(self.secret, stamp, body),
        }
        if key:
            headers["Idempotency-Key"] = key
        return self.client.post(self.url, content=body, headers=headers)

    def send(self, messages: list[OutgoingMessage]) -> list[SendResult]:
        records = [_record(m) for m in messages]
        if self.per_message:
            chunks = [
                ([m], {"message": r}, m.idempotency_key) for m, r in zip(messages, records, strict=True)
            ]
        else:
            chunks = [(messages, {"messages": records}, None)]
        results: list[SendResult] = []
        for chunk, payload, key in chunks:
            try:
                response = self._post(payload, key)
            except httpx.HTTPError as exc:
                # Down or timed out: every later POST would wait as long, so stop here.
                error = f"{self.where}: {type(exc).__name__}: {exc}"
                return results + [SendResult(m.idempotency_key, False, error, outage=True) for m in chunk]
            if response.is_success:
                results += [SendResult(m.idempotency_key, True) for m in chunk]
                continue
            error = f"{self.where}: HTTP {response.status_code}: {response.text[:200]}"
            outage = response.status_code >= 500 or response.status_code in (408, 429)
            results += [SendResult(m.idempotency_key, False, error, outage=outage) for m in chunk]
            if outage:
                return results
        return results

    def close(self) -> None:
        self.client.close()


for _name in ("webhook", "sms", "push"):
    register_channel(_name)(lambda s, o, _n=_name: WebhookChannel(_n, s, o))
