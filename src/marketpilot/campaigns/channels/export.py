"""CSV/Parquet files for ad platforms and shop back-ends: one part file per dispatched batch, named by
its first message id and written temp-then-rename, so a re-sent batch overwrites its own part; the
`idempotency_key` column lets an importer dedupe; `aigc_metadata` holds the AIGC labelling metadata
(JSON) of model-written rows, empty for a person's copy."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from marketpilot.atomic import atomic_path
from marketpilot.campaigns.channels.base import ChannelSettings, OutgoingMessage, SendResult, register_channel
from marketpilot.config import Settings

EXPORT_COLUMNS = [
    "idempotency_key",
    "campaign_id",
    "version",
    "customer_id",
    "variant_key",
    "subject",
    "body",
    "aigc_metadata",
]


class ExportChannel:
    name = "export"
    customer_facing = False
    batch_size = 50_000

    def __init__(self, settings: Settings, options: ChannelSettings) -> None:
        self.root = options.export_dir or settings.home_dir / "exports"
        self.format = options.export_format

    def part_dir(self, campaign_id: str, version: int) -> Path:
        return Path(self.root) / campaign_id / f"v{version}"

    def send(self, messages: list[OutgoingMessage]) -> list[SendResult]:
        if not messages:
            return []
        first = messages[0]
        frame = pd.DataFrame({c: [getattr(m, c) for m in messages] for c in EXPORT_COLUMNS})
        target = (
            self.part_dir(first.campaign_id, first.version) / f"part-{first.idempotency_key}.{self.format}"
        )
        with atomic_path(target) as tmp:
            if self.format == "parquet":
                frame.to_parquet(tmp, index=False)
            else:
                frame.to_csv(tmp, index=False, encoding="utf-8-sig")
        return [SendResult(m.idempotency_key, True) for m in messages]

    def close(self) -> None:
        return None


register_channel("export")(ExportChannel)
