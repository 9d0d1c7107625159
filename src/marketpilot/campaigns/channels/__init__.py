"""Channel adapters; importing this package registers the built-ins (email, sms, push, webhook, export)."""

from marketpilot.campaigns.channels import export, smtp, webhook  # noqa: F401  (registration)
from marketpilot.campaigns.channels.base import (
    ChannelAdapter,
    ChannelSettings,
    OutgoingMessage,
    RateLimiter,
    SendResult,
    channel_settings,
    create_channel,
    register_channel,
    registered_channels,
)

__all__ = [
    "ChannelAdapter",
    "ChannelSettings",
    "OutgoingMessage",
    "RateLimiter",
    "SendResult",
    "channel_settings",
    "create_channel",
    "register_channel",
    "registered_channels",
]
