"""The `marketpilot sample generate` service: generate a shop under home and optionally load it."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

from pydantic import BaseModel

from marketpilot.config import Settings
from marketpilot.data.sample.generate import (
    DEFAULT_END,
    DEFAULT_START,
    Progress,
    generate_shop,
    read_manifest,
)
from marketpilot.data.sample.load import load_shop
from marketpilot.data.store import Store


class SampleResult(BaseModel):
    out_dir: Path
    customers: int
    seed: int
    rows: dict[str, int]
    loaded: dict[str, int] | None
    generate_seconds: float
    load_seconds: float | None


def default_sample_dir(settings: Settings, customers: int, seed: int) -> Path:
    return settings.path("samples", f"shop-c{customers}-s{seed}")


def make_sample(
    settings: Settings,
    *,
    customers: int,
    seed: int,
    out_dir: Path | None = None,
    load: bool = True,
    start: date | str = DEFAULT_START,
    end: date | str = DEFAULT_END,
    products: int | None = None,
    progress: Progress | None = None,
) -> SampleResult:
    out = out_dir or default_sample_dir(settings, customers, seed)
    began = time.perf_counter()
    paths = generate_shop(
        out, customers=customers, seed=seed, start=start, end=end, products=products, progress=progress
    )
    generated = time.perf_counter() - began
    loaded, load_seconds = None, None
    if load:
        began = time.perf_counter()
        with Store.open(settings) as store:
            loaded = load_shop(store, paths)
        load_seconds = time.perf_counter() - began
    return SampleResult(
        out_dir=Path(out).resolve(),
        customers=customers,
        seed=seed,
        rows=read_manifest(out)["rows"],
        loaded=loaded,
        generate_seconds=round(generated, 2),
        load_seconds=None if load_seconds is None else round(load_seconds, 2),
    )
