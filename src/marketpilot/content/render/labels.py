"""Implicit AI-generation labels (metadata) for every rendered asset.

China's 《人工智能生成合成内容标识办法》 (2025) and the national standard GB 45438-2025 ask that files
produced by generative AI carry metadata naming it as such: the label, the producer and a content id.
The same dictionary goes into a PNG text chunk (key "AIGC"), into e-mail headers and HTML meta, and
next to SMS/push text rendered with `render_message(..., metadata=True)` / `render_batch`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json

PRODUCER = "MarketPilot"


def ai_metadata(
    content: str,
    *,
    propagator: str | None = None,
    model: str | None = None,
    prompt_version: str | None = None,
    produced_at: dt.datetime | None = None,
) -> dict[str, str]:
    """The AIGC metadata for one asset; `ProduceID` is a stable hash of its content, `ProduceTime` when
    it was generated (now, when unknown)."""
    produce_id = hashlib.sha256(content.encode("utf-8")).hexdigest()[:32]
    meta = {
        "Label": "1",  # 1 = AI-generated (GB 45438-2025: 1 generated, 2 possibly, 3 suspected)
        "ContentProducer": PRODUCER,
        "ProduceID": produce_id,
        "ProduceTime": (produced_at or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds"),
        "ContentPropagator": propagator or "",
        "PropagateID": "",
    }
    if model:
        meta["Model"] = model
    if prompt_version:
        meta["PromptVersion"] = prompt_version
    return meta


def metadata_json(meta: dict[str, str]) -> str:
    return json.dumps(meta, ensure_ascii=False, separators=(",", ":"))
