"""Writing analytics tables under home: Parquet for machines, CSV (UTF-8 with BOM, so Excel shows
Chinese correctly) for people. Both are written to a temp file and renamed: never half-written."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
from pydantic import BaseModel

from marketpilot.atomic import atomic_path, write_text
from marketpilot.config import Settings


def write_table(settings: Settings, frame: pd.DataFrame, *parts: str) -> tuple[Path, Path]:
    """Write `frame` to <home>/<parts>.parquet and .csv; returns both paths."""
    base = settings.path(*parts)
    parquet, csv = base.with_suffix(".parquet"), base.with_suffix(".csv")
    table = pa.Table.from_pandas(frame, preserve_index=False)
    for target, write in (
        (parquet, lambda p: pq.write_table(table, p)),
        (csv, lambda p: _write_csv(table, p)),
    ):
        with atomic_path(target) as tmp:
            write(tmp)
    return parquet, csv


def _write_csv(table: pa.Table, path: Path) -> None:
    """Arrow's CSV writer (several times faster than pandas on a million rows) after a UTF-8 BOM and
    a plain header line (Arrow quotes every header name)."""
    header = io.StringIO()
    csv.writer(header, lineterminator="\n").writerow(table.column_names)
    with path.open("wb") as fh:
        fh.write(b"\xef\xbb\xbf" + header.getvalue().encode("utf-8"))
        pcsv.write_csv(table, fh, pcsv.WriteOptions(include_header=False, quoting_style="needed"))


def write_json(settings: Settings, payload: BaseModel, *parts: str) -> Path:
    """`payload` as UTF-8 JSON at <home>/<parts>, written to a temp file and renamed."""
    target = settings.path(*parts)
    return write_text(target, payload.model_dump_json(indent=2))
