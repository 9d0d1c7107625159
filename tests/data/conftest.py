"""Fixtures for the loader tests: a slice of the bundled real Online Retail file, and store snapshots."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import pytest

from marketpilot.config import Settings
from marketpilot.data import Store

ONLINE_RETAIL = Path(__file__).resolve().parents[2] / "data" / "samples" / "online_retail.csv.gz"


def online_retail_slice(tmp: Path, lines: int = 3000) -> Path:
    """The header and the first `lines` data lines of the real Online Retail export."""
    out = tmp / f"online_retail_{lines}.csv"
    with gzip.open(ONLINE_RETAIL, "rt", encoding="utf-8") as src:
        out.write_text("".join(next(src) for _ in range(lines + 1)), encoding="utf-8")
    return out


def snapshot(settings: Settings) -> dict[str, list[tuple]]:
    """Every row of every table, sorted: equal snapshots mean the store did not change."""
    with Store.open(settings) as store:
        return {t: sorted(map(tuple, store.read(t).astype(str).values.tolist())) for t in store.counts()}


@pytest.fixture(scope="session")
def retail_slice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return online_retail_slice(tmp_path_factory.mktemp("retail"))


@pytest.fixture
def store_snapshot() -> Callable[[Settings], dict[str, list[tuple]]]:
    return snapshot
