"""Writing analytics tables under home: Parquet for machines, CSV (UTF-8 with BOM, so Excel shows
Chinese correctly) for people. Both are written to a temp file and renamed: never half-written."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from marketpilot.config import Settings


def write_table(settings: Settings, frame: pd.DataFrame, *parts: str) -> tuple[Path, Path]:
    """Write `frame` to <home>/<parts>.parquet and .csv; returns both paths."""
    base = settings.path(*parts)
    parquet, csv = base.with_suffix(".parquet"), base.with_suffix(".csv")
    for target, write in (
        (parquet, lambda p: frame.to_parquet(p, index=False)),
        (csv, lambda p: frame.to_csv(p, index=False, encoding="utf-8-sig")),
    ):
        tmp = target.with_name(f".{target.name}.tmp")
        write(tmp)
        tmp.replace(target)
    return parquet, csv
