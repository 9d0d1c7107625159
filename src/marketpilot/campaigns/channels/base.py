"""Channel adapters: one registry, one small interface. Adding a channel is one file that registers.

Delivery is at-least-once to the receiver: a message is marked `sending` before the adapter is called
and `sent` after, so a crash in between re-sends it on resume. Every adapter therefore carries the
message's idempotency key where the receiver can dedupe on it (SMTP Message-ID, the webhook's
Idempotency-Key header/field, the export file's key column). Model-written messages also carry the
AIGC metadata China's labelling measures require (an e-mail header, a signed payload field, a column).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from marketpilot.config import Settings, load_settings
from marketpilot.errors import UserError


class ChannelSettings(BaseSettings):
    """Where channels deliver: MARKETPILOT_SMTP_HOST, MARKETPILOT_WEBHOOK_URL, …"""

    model_config = SettingsConfigDict(env_prefix="MARKETPILOT_", extra="ignore")

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    mail_from: str = "MarketPilot <marketing@example.com>"
    unsubscribe_url: str = "https://example.com/unsubscribe"
    unsubscribe_mailto: str = "unsubscribe@example.com"
    webhook_url: str | None = None
    webhook_batch_size: int = 1  # 1 = one POST per message; >1 = batches
    webhook_timeout_s: float = 10.0
    export_dir: Path | None = None  # default <home>/exports
    # Checked here: any other value wrote CSV under that suffix (part-….xlsx holding CSV).
    export_format: Literal["csv", "parquet"] = "csv"


def channel_settings(**overrides: object) -> ChannelSettings:
    """The channel settings from the environment; a value that does not validate is one UserError
    naming its variable (MARKETPILOT_SMTP_PORT: Input should be a valid integer …), never the value."""
    return load_settings(ChannelSettings, **overrides)


@dataclass(frozen=True)
class OutgoingMessage:
    idempotency_key: str
    campaign_id: str
    version: int
    customer_id: str
    channel: str
    variant_key: str
    body: str
    subject: str | None = None
    email: str | None = None
    phone: str | None = None
    # China's AIGC labelling metadata as JSON, for model-written copy; every channel passes it on.
    aigc_metadata: str | None = None


@dataclass(frozen=True)
class SendResult:
    idempotency_key: str
    ok: bool
    error: str | None = None
    # The receiver failed, not the message (down, timed out, 5xx, 429, SMTP 4xx): the run stops sending
    # on this channel and the message stays queued for the next run. An adapter returns no result for
    # the messages after such a failure: they were not tried.
    outage: bool = False


class ChannelAdapter(Protocol):
    name: str
    customer_facing: bool  # quiet hours apply
    batch_size: int

    def send(self, messages: list[OutgoingMessage]) -> list[SendResult]:
        """One result per message tried, in order; stops at the first outage (see SendResult)."""
        ...

    def close(self) -> None: ...


Factory = Callable[[Settings, ChannelSettings], ChannelAdapter]
_REGISTRY: dict[str, Factory] = {}


def register_channel(name: str) -> Callable[[Factory], Factory]:
    def decorator(factory: Factory) -> Factory:
        _REGISTRY[name] = factory
        return factory

    return decorator


def registered_channels() -> list[str]:
    return sorted(_REGISTRY)


def create_channel(name: str, settings: Settings, options: ChannelSettings | None = None) -> ChannelAdapter:
    if name not in _REGISTRY:
        raise UserError(
            f"No channel adapter named {name!r}.", hint=f"Known: {', '.join(registered_channels())}"
        )
    return _REGISTRY[name](settings, options or channel_settings())


class RateLimiter:
    """A token bucket: at most `rate` messages per second on average, bursts up to one second's worth."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.tokens = self.capacity
        self.clock = clock
        self.last = clock()

    def acquire(self, n: int = 1) -> None:
        while True:
            now = self.clock()
            self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.rate)
            self.last = now
            if self.tokens >= min(n, self.capacity):
                self.tokens -= n
                return
            time.sleep((min(n, self.capacity) - self.tokens) / self.rate)
