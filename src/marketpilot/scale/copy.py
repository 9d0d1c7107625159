"""Copy generation for many briefs as a Ray Data job: each worker keeps one LLM client and sends its
blocks of briefs to the configured model, meant for an OpenAI-compatible server (vLLM, DeepSeek, …)
that batches the requests of every worker. The same `generate_variants` as `copy generate`:
guardrails, one repair round, de-duplication.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError

from marketpilot.config import Settings
from marketpilot.content.briefs import Brief
from marketpilot.content.generate import VariantSet
from marketpilot.errors import ValidationFailed
from marketpilot.scale.runtime import ray_session


class _Writer:
    """One per Ray actor: an LLM client and the channel specs, reused for every block."""

    def __init__(self, settings: Settings, n: int, seed: int | None) -> None:
        from marketpilot.content.channels import channel_specs
        from marketpilot.llm import get_client

        self.client = get_client(settings)
        self.specs = channel_specs()
        self.n, self.seed = n, seed

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        from marketpilot.content.generate import generate_variants

        briefs = [Brief.model_validate_json(b) for b in batch["brief"]]
        results = generate_variants(briefs, self.client, n=self.n, specs=self.specs, seed=self.seed)
        return pd.DataFrame({"position": batch["position"], "result": [r.model_dump_json() for r in results]})


def read_briefs(path: Path) -> list[Brief]:
    """One brief per line (JSON Lines, UTF-8 or GBK); every bad line is named."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("gb18030")
    briefs, problems = [], []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            briefs.append(Brief.model_validate(json.loads(line)))
        except (json.JSONDecodeError, ValidationError) as exc:
            problems.append(f"line {number}: {str(exc).splitlines()[0]}")
    if problems or not briefs:
        raise ValidationFailed(
            problems or ["no briefs"], source=str(path), hint="one Brief JSON object per line"
        )
    return briefs


def generate_copy_ray(
    briefs: list[Brief],
    settings: Settings,
    *,
    n: int = 3,
    seed: int | None = None,
    address: str | None = None,
    num_cpus: int | None = None,
    workers: int = 2,
    briefs_per_call: int = 8,
) -> list[VariantSet]:
    """A VariantSet per brief, in the briefs' order. The briefs are split into blocks of
    `briefs_per_call` (up to 4 per worker) so that every worker gets some."""
    records = [{"position": i, "brief": b.model_dump_json()} for i, b in enumerate(briefs)]
    blocks = max(1, min(workers * 4, -(-len(records) // briefs_per_call)))
    with ray_session(address, num_cpus) as ray:
        done: Any = (
            ray.data.from_items(records, override_num_blocks=blocks)
            .map_batches(
                _Writer,
                fn_constructor_args=(settings, n, seed),
                batch_format="pandas",
                batch_size=briefs_per_call,
                concurrency=workers,
                # The writers wait on the LLM server, not the CPU. Holding a CPU each, two writers on a
                # 2-CPU node left none for the tasks that split the data into blocks: a deadlock.
                num_cpus=0,
            )
            .to_pandas()
        )
    done = done.sort_values("position")
    return [VariantSet.model_validate_json(r) for r in done["result"]]
