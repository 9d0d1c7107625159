"""Read CSV / Parquet / Excel exports into a DuckDB view, whatever the file's encoding.

Every source view has the file's own columns plus `__row`: the row number a user sees in a
spreadsheet (header = row 1), so validation errors can point at it.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from marketpilot.errors import UserError, ValidationFailed


def sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


ROW = "__row"
CSV_SUFFIXES = {".csv", ".txt", ".tsv"}
PARQUET_SUFFIXES = {".parquet", ".pq"}
EXCEL_SUFFIXES = {".xlsx", ".xlsm"}
_CHUNK = 4 << 20
# A run of two or more 3-byte UTF-8 CJK characters: how UTF-8 lines give themselves away in a GBK file.
_UTF8_CJK_RUN = re.compile(rb"(?:[\xe4-\xe9][\x80-\xbf]{2}){2,}")
_NON_ASCII = re.compile(rb"[\x80-\xff]")


@dataclass(frozen=True)
class Source:
    """A file opened as a DuckDB view on a connection."""

    path: Path
    view: str
    columns: tuple[str, ...]
    types: dict[str, str]
    encoding: str | None

    def count(self, con: duckdb.DuckDBPyConnection) -> int:
        return int(con.execute(f'SELECT count(*) FROM "{self.view}"').fetchall()[0][0])


def _base_suffix(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in {".gz", ".bz2"}:
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else ""


def _open_bytes(path: Path) -> BinaryIO:
    if path.suffix.lower() == ".gz":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    if path.suffix.lower() == ".bz2":
        return bz2.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def _line_chunks(path: Path) -> Iterator[tuple[int, bytes]]:
    """Yield (first line number, bytes) chunks that end on a line break, streaming the file."""
    line = 1
    with _open_bytes(path) as fh:
        while chunk := fh.read(_CHUNK):
            chunk += fh.readline()
            yield line, chunk
            line += chunk.count(b"\n")


def _line_of(chunk: bytes, pos: int, first_line: int) -> int:
    return first_line + chunk.count(b"\n", 0, pos)


def detect_encoding(path: Path) -> str:
    """'utf-8-sig', 'utf-8' or 'gb18030' (a superset of GBK), found by strict trial decoding.

    A file whose lines mix UTF-8 and GBK is refused with both line numbers: such files come from
    concatenating exports, and decoding them either way silently corrupts half of the text.
    """
    first_non_ascii: int | None = None
    bom = False
    for first_line, chunk in _line_chunks(path):
        if first_line == 1:
            bom = chunk.startswith(b"\xef\xbb\xbf")
            if not chunk.strip():
                raise UserError(
                    f"{path}: the file is empty.", hint="Export the data again with a header row."
                )
        try:
            chunk.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad_line = _line_of(chunk, exc.start, first_line)
            if first_non_ascii is None and (m := _NON_ASCII.search(chunk, 0, exc.start)):
                first_non_ascii = _line_of(chunk, m.start(), first_line)
            if bom or first_non_ascii is not None:
                good = 1 if bom else first_non_ascii
                raise ValidationFailed(
                    [
                        f"row {bad_line}: bytes {chunk[exc.start : exc.start + 4]!r} are not UTF-8, "
                        f"but row {good} is UTF-8 text; expected one encoding for the whole file"
                    ],
                    source=str(path),
                    hint="The file mixes encodings (e.g. UTF-8 and GBK); re-save it in one encoding.",
                ) from None
            _check_gb18030(path, bad_line)
            return "gb18030"
        if first_non_ascii is None and (m := _NON_ASCII.search(chunk)):
            first_non_ascii = _line_of(chunk, m.start(), first_line)
    return "utf-8-sig" if bom else "utf-8"


def _check_gb18030(path: Path, first_gbk_line: int) -> None:
    """The whole file must decode as GB18030 and contain no line that is UTF-8 Chinese."""
    for first_line, chunk in _line_chunks(path):
        try:
            chunk.decode("gb18030")
        except UnicodeDecodeError as exc:
            if _is_utf8_line(chunk, exc.start):
                _raise_mixed(path, _line_of(chunk, exc.start, first_line), first_gbk_line)
            line = _line_of(chunk, exc.start, first_line)
            raise ValidationFailed(
                [f"row {line}: bytes {chunk[exc.start : exc.start + 4]!r} are neither UTF-8 nor GBK/GB18030"],
                source=str(path),
                hint="Re-save the file as UTF-8.",
            ) from None
        for m in _UTF8_CJK_RUN.finditer(chunk):
            # A GBK line can contain UTF-8-like bytes by chance; a whole line decoding as UTF-8 cannot.
            if _is_utf8_line(chunk, m.start()):
                _raise_mixed(path, _line_of(chunk, m.start(), first_line), first_gbk_line)


def _is_utf8_line(chunk: bytes, pos: int) -> bool:
    start = chunk.rfind(b"\n", 0, pos) + 1
    end = chunk.find(b"\n", pos)
    line = chunk[start : end if end >= 0 else len(chunk)]
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return not line.isascii()


def _raise_mixed(path: Path, utf8_line: int, gbk_line: int) -> None:
    raise ValidationFailed(
        [f"row {utf8_line}: the line is UTF-8 text, but row {gbk_line} is GBK; expected one encoding"],
        source=str(path),
        hint="The file mixes encodings (e.g. UTF-8 and GBK); re-save it in one encoding.",
    )


def _sniff_header(path: Path, encoding: str) -> tuple[list[str], str]:
    with _open_bytes(path) as fh:
        first = fh.readline().decode(encoding)
    delimiter = max([",", "\t", ";", "|"], key=first.count)
    header = next(csv.reader(io.StringIO(first), delimiter=delimiter))
    return [h.strip() for h in header], delimiter


def read_csv(path: Path, *, encoding: str = "auto", delimiter: str | None = None) -> tuple[pa.Table, str]:
    """The file as an Arrow table of strings (nothing is guessed: types are decided by the mapping)."""
    enc = detect_encoding(path) if encoding == "auto" else encoding
    header, sniffed = _sniff_header(path, enc)
    delimiter = delimiter or sniffed
    if not any(header):
        raise UserError(f"{path}: the first row is empty; expected a header row with column names.")
    bad_rows: list[str] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        where = f"row {row.number}" if row.number is not None else "a row"
        bad_rows.append(
            f"{where}: {row.actual_columns} field(s), expected {row.expected_columns} "
            f"(truncated or extra delimiter?): {row.text[:80]!r}"
        )
        return "skip"

    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(encoding=enc, use_threads=False, block_size=_CHUNK),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(header, pa.string()), strings_can_be_null=True
            ),
        )
    except pa.ArrowInvalid as exc:
        raise ValidationFailed([f"cannot parse as CSV: {exc}"], source=str(path)) from None
    if bad_rows:
        raise ValidationFailed(bad_rows, source=str(path), hint="Fix or remove the rows named above.")
    return table, enc


def read_excel(path: Path, *, sheet: str | int | None = None) -> pa.Table:
    try:
        frame = pd.read_excel(path, sheet_name=sheet if sheet is not None else 0, dtype=str)
    except ValueError as exc:
        raise UserError(f"{path}: {exc}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return pa.Table.from_pandas(frame, preserve_index=False)


def open_source(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    *,
    view: str = "src",
    encoding: str = "auto",
    delimiter: str | None = None,
    sheet: str | int | None = None,
) -> Source:
    """Register `path` as view `view` on `con` with a `__row` column."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file.")
    if path.stat().st_size == 0:
        raise UserError(f"{path}: the file is empty.", hint="Export the data again with a header row.")
    suffix = _base_suffix(path)
    used_encoding: str | None = None
    if suffix in PARQUET_SUFFIXES:
        con.execute(
            f'CREATE OR REPLACE TEMP VIEW "{view}" AS SELECT * EXCLUDE (file_row_number), '
            f"file_row_number + 1 AS {ROW} "
            f"FROM read_parquet({sql_literal(str(path))}, file_row_number = true)"
        )
    else:
        if suffix in EXCEL_SUFFIXES:
            table = read_excel(path, sheet=sheet)
        elif suffix in CSV_SUFFIXES:
            table, used_encoding = read_csv(path, encoding=encoding, delimiter=delimiter)
        else:
            raise UserError(
                f"{path}: unsupported file type '{suffix}'.",
                hint="Use CSV (optionally .gz), Parquet or Excel (.xlsx).",
            )
        # Row 1 is the header, so the first data row is row 2, as a spreadsheet shows it.
        table = table.append_column(ROW, pa.array(range(2, table.num_rows + 2), pa.int64()))
        con.register(f"{view}_arrow", table)
        con.execute(f'CREATE OR REPLACE TEMP VIEW "{view}" AS SELECT * FROM "{view}_arrow"')
    described = con.execute(f'DESCRIBE "{view}"').fetchall()
    types = {name: typ for name, typ, *_ in described if name != ROW}
    return Source(path=path, view=view, columns=tuple(types), types=types, encoding=used_encoding)
