"""Read CSV / Parquet / Excel exports into a DuckDB view, whatever the file's encoding.

Every source view has the file's own columns plus `__row`: the row number a user sees in a
spreadsheet (header = row 1), so validation errors can point at it. CSV views also have `__line`, the
line of the file where the row starts: the two differ once a quoted value spans lines (Shopify notes
and addresses), and messages then name both.

CSV files stream: pyarrow parses them in blocks that are appended to a temporary DuckDB table one
batch at a time, so Python never holds more than a block, and DuckDB spills to disk when the table
outgrows memory.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import re
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import BinaryIO

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from marketpilot.errors import UserError, ValidationFailed


def sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


ROW = "__row"
LINE = "__line"
CSV_SUFFIXES = {".csv", ".txt", ".tsv", ".dat", ".data"}  # .dat, .data: MovieLens
PARQUET_SUFFIXES = {".parquet", ".pq"}
EXCEL_SUFFIXES = {".xlsx", ".xlsm"}
_CHUNK = 4 << 20
_UNIT = b"\x1f"  # ASCII's unit separator: what a two-byte field separator becomes for pyarrow
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
    lines: bool = False  # the view has LINE (CSV)
    notes: tuple[str, ...] = ()  # rows left out (a workbook's total rows), for the user to see

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
            if chunk.startswith((b"\xff\xfe", b"\xfe\xff")):
                raise UserError(
                    f"{path}: the file is UTF-16 (Excel's 'Unicode text'), which is not read here.",
                    hint="In Excel, save as 'CSV UTF-8 (comma delimited)' or as .xlsx.",
                )
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
                        f"line {bad_line}: bytes {chunk[exc.start : exc.start + 4]!r} are not UTF-8, "
                        f"but line {good} is UTF-8 text; expected one encoding for the whole file"
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
                [
                    f"line {line}: bytes {chunk[exc.start : exc.start + 4]!r} are neither UTF-8 "
                    "nor GBK/GB18030"
                ],
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
        [f"line {utf8_line}: the line is UTF-8 text, but line {gbk_line} is GBK; expected one encoding"],
        source=str(path),
        hint="The file mixes encodings (e.g. UTF-8 and GBK); re-save it in one encoding.",
    )


def row_label(row: int, line: int | None = None) -> str:
    """'row 5', or 'row 5 (line 7 of the file)' when earlier values span lines."""
    return f"row {row}" if line is None or line == row else f"row {row} (line {line} of the file)"


def _sniff_header(path: Path, encoding: str) -> tuple[list[str], str, bool]:
    """(column names, delimiter, whether the first line is a header). A first line of mostly numbers
    is a record of a file without a header (MovieLens' `u.data` and `ratings.dat`, Taobao's
    `UserBehavior.csv`: 1,2268318,2520377,pv,1511544070): its columns are named column0, column1, …
    as DuckDB names them. `::` separates MovieLens-1M's fields."""
    with _open_bytes(path) as fh:
        first = fh.readline().decode(encoding)
    delimiter = max([",", "\t", ";", "|", "::"], key=first.count)
    if delimiter == "::":
        cells = first.rstrip("\r\n").split("::")
    else:
        cells = next(csv.reader(io.StringIO(first), delimiter=delimiter), [])
    cells = [c.strip() for c in cells]
    numbers = [c for c in cells if _NUMBER.fullmatch(c)]
    if len(numbers) * 2 > len(cells) and not _years(numbers):
        return [f"column{i}" for i in range(len(cells))], delimiter, False
    return cells, delimiter, True


def _years(cells: list[str]) -> bool:
    """Ascending years (商品,2022,2023,2024): the header of a wide sheet, not a record."""
    if len(cells) < 2 or not all(c.isdigit() and 1900 <= int(c) <= 2100 for c in cells):
        return False
    values = [int(c) for c in cells]
    return all(a < b for a, b in pairwise(values))


_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


class _Collapsed(io.RawIOBase):
    """A byte stream with a two-byte field separator (MovieLens' `::`) replaced by one that pyarrow
    can split on; a `:` at the end of a read waits for the next byte."""

    def __init__(self, raw: BinaryIO, separator: bytes, replacement: bytes) -> None:
        self._raw, self._sep, self._rep, self._held = raw, separator, replacement, b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        data = self._held + self._raw.read(max(len(buffer) // 2, 2))
        self._held = b""
        if data.endswith(self._sep[:1]) and len(data) > 1:
            data, self._held = data[:-1], data[-1:]
        data = data.replace(self._sep, self._rep)
        buffer[: len(data)] = data
        return len(data)


@dataclass
class _Gap:
    """A record pyarrow did not yield: a blank line, or an invalid row (then `problem` says why)."""

    row: int
    breaks: int
    problem: str | None


@dataclass
class _Numbering:
    """Row and line numbers of the records pyarrow yields.

    pyarrow numbers every record (header = 1, blank lines included) but yields only the valid ones,
    in order; those it hands to the invalid-row handler instead are the gaps. A record starts one line
    after the previous one, plus the line breaks inside the previous one's values."""

    next_row: int = 2
    next_line: int = 2
    gaps: list[_Gap] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def number(self, breaks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(rows, lines) of the next `len(breaks)` valid records, given the line breaks in each; with
        none (the end of the file), numbers the gaps that remain."""
        n = len(breaks)
        gap_rows = np.array([g.row for g in self.gaps], dtype=np.int64)
        candidates = np.arange(self.next_row, self.next_row + n + len(gap_rows), dtype=np.int64)
        rows = candidates[~np.isin(candidates, gap_rows)][:n]
        end = int(rows[-1]) + 1 if n else int(gap_rows.max(initial=self.next_row - 1)) + 1
        span = np.zeros(end - self.next_row, dtype=np.int64)
        span[rows - self.next_row] = breaks
        done = [g for g in self.gaps if g.row < end]
        for gap in done:
            span[gap.row - self.next_row] = gap.breaks
        lines = self.next_line + np.arange(len(span), dtype=np.int64) + np.cumsum(span) - span
        for gap in done:
            if gap.problem is not None:
                line = int(lines[gap.row - self.next_row])
                self.problems.append(f"{row_label(gap.row, line)}: {gap.problem}")
        self.gaps = self.gaps[len(done) :]
        row_lines = lines[rows - self.next_row]
        if len(span):
            self.next_line = int(lines[-1] + span[-1]) + 1
        self.next_row = end
        return rows, row_lines


@dataclass
class CsvStream:
    """A CSV file read block by block: `batches()` yields Arrow batches of strings plus ROW and LINE.

    Rows with no value at all (blank lines, Excel's trailing `,,,`) are left out but keep their number;
    `keep_blank` keeps them, and reads a quoted `""` as an empty string, not a missing value.
    After the last batch, `problems` lists every row with the wrong number of fields."""

    path: Path
    encoding: str
    header: list[str]
    delimiter: str
    has_header: bool = True
    keep_blank: bool = False
    numbering: _Numbering = field(default_factory=_Numbering)

    def __post_init__(self) -> None:
        if not self.has_header:  # the first record is row 1, on line 1
            self.numbering.next_row = self.numbering.next_line = 1

    @property
    def problems(self) -> list[str]:
        return self.numbering.problems

    def batches(self) -> Iterator[pa.RecordBatch]:
        def on_invalid(row: pacsv.InvalidRow) -> str:
            text = row.text or ""
            problem = None
            if text.strip():
                problem = (
                    f"{row.actual_columns} field(s), expected {row.expected_columns} "
                    f"(truncated or extra delimiter?): {text[:80]!r}"
                )
            self.numbering.gaps.append(_Gap(int(row.number), text.count("\n"), problem))
            return "skip"

        # A Python file object, not the path: given a path, pyarrow reads ahead on its IO threads as
        # fast as the disk allows and queues the blocks, so memory grows with the file.
        with _open_bytes(self.path) as raw:
            if len(self.delimiter) > 1:
                yield from self._parse(_Collapsed(raw, self.delimiter.encode(), _UNIT), on_invalid)
            else:
                yield from self._parse(raw, on_invalid)
        self.numbering.number(np.zeros(0, dtype=np.int64))

    def _parse(
        self, raw: BinaryIO, on_invalid: Callable[[pacsv.InvalidRow], str]
    ) -> Iterator[pa.RecordBatch]:
        try:
            reader = pacsv.open_csv(
                raw,
                read_options=pacsv.ReadOptions(
                    encoding=self.encoding,
                    use_threads=False,
                    block_size=_CHUNK,
                    column_names=self.header,
                    skip_rows=1 if self.has_header else 0,
                ),
                parse_options=pacsv.ParseOptions(
                    delimiter=self.delimiter if len(self.delimiter) == 1 else _UNIT.decode(),
                    newlines_in_values=True,
                    ignore_empty_lines=False,  # pyarrow's record numbers then count them, as we must
                    invalid_row_handler=on_invalid,
                ),
                convert_options=pacsv.ConvertOptions(
                    column_types=dict.fromkeys(self.header, pa.string()),
                    strings_can_be_null=True,
                    # keeping blanks, a quoted "" is an empty value: only bare blank lines can be the
                    # file's trailing newlines (`read_csv` drops those)
                    quoted_strings_can_be_null=not self.keep_blank,
                ),
            )
            for batch in reader:
                yield self._numbered(batch)
        except pa.ArrowInvalid as exc:
            raise ValidationFailed([f"cannot parse as CSV: {exc}"], source=str(self.path)) from None

    def _numbered(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        columns = batch.columns
        breaks = np.zeros(batch.num_rows, dtype=np.int64)
        empty = np.ones(batch.num_rows, dtype=bool)
        for col in columns:
            breaks += pc.fill_null(pc.count_substring(col, "\n"), 0).to_numpy(zero_copy_only=False)
            empty &= pc.is_null(col).to_numpy(zero_copy_only=False)
        rows, lines = self.numbering.number(breaks)
        numbered = pa.RecordBatch.from_arrays(
            [*columns, pa.array(rows), pa.array(lines)], names=[*self.header, ROW, LINE]
        )
        return numbered.filter(pa.array(~empty)) if empty.any() and not self.keep_blank else numbered


def open_csv(
    path: Path, *, encoding: str = "auto", delimiter: str | None = None, keep_blank: bool = False
) -> CsvStream:
    """The file as a stream of string batches (nothing is guessed: types are decided by the mapping);
    `keep_blank`: see `CsvStream`."""
    enc = detect_encoding(path) if encoding == "auto" else encoding
    header, sniffed, has_header = _sniff_header(path, enc)
    if not any(header):
        raise UserError(f"{path}: the first row is empty; expected a header row with column names.")
    _refuse_repeated(path, header, 1)
    return CsvStream(
        path=path,
        encoding=enc,
        header=header,
        delimiter=delimiter or sniffed,
        has_header=has_header,
        keep_blank=keep_blank,
    )


def _refuse_repeated(path: Path, header: list[str], row: int) -> None:
    """A header that names a column twice is refused: which of the two holds the amount (实付金额)
    is anyone's guess, and reading one silently would load the wrong figures."""
    repeated = sorted({h for h in header if header.count(h) > 1})
    if repeated:
        raise ValidationFailed(
            [f"row {row}: column {h!r} appears {header.count(h)} times in the header" for h in repeated],
            source=str(path),
            hint="Rename the repeated columns so that each is named once.",
        )


def read_csv(
    path: Path, *, encoding: str = "auto", delimiter: str | None = None, keep_blank: bool = False
) -> tuple[pa.Table, str]:
    """The whole file as an Arrow table of strings, for callers that need it in memory (small files).
    `keep_blank` keeps the records with no value (a blank line is an empty value in a one-column file),
    all but those after the last value: the blank lines a file ends with are no records."""
    stream = open_csv(path, encoding=encoding, delimiter=delimiter, keep_blank=keep_blank)
    batches = list(stream.batches())
    if stream.problems:
        raise ValidationFailed(stream.problems, source=str(path), hint="Fix or remove the rows named above.")
    schema = pa.schema([(h, pa.string()) for h in stream.header] + [(ROW, pa.int64()), (LINE, pa.int64())])
    table = pa.Table.from_batches(batches, schema=schema).drop_columns([ROW, LINE])
    if keep_blank and table.num_rows:
        filled = np.zeros(table.num_rows, dtype=bool)
        for col in table.columns:
            filled |= pc.is_valid(col).to_numpy(zero_copy_only=False)
        table = table.slice(0, int(np.flatnonzero(filled).max(initial=-1)) + 1)
    return table, stream.encoding


def _stream_into(
    con: duckdb.DuckDBPyConnection,
    stream: CsvStream,
    table: str,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Append the file to a temporary table one batch at a time; raises after the whole file when any
    row was malformed, so every bad row is reported. `progress(rows read so far)` after each batch."""
    cols = ", ".join(f"{_ident(h)} VARCHAR" for h in stream.header)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {_ident(table)} ({cols}, {ROW} BIGINT, {LINE} BIGINT)")
    rows = 0
    for batch in stream.batches():
        con.register("_csv_batch", batch)
        con.execute(f"INSERT INTO {_ident(table)} SELECT * FROM _csv_batch")
        con.unregister("_csv_batch")
        rows += batch.num_rows
        if progress is not None:
            progress(rows)
    if stream.problems:
        con.execute(f"DROP TABLE {_ident(table)}")
        raise ValidationFailed(
            stream.problems, source=str(stream.path), hint="Fix or remove the rows named above."
        )


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@contextmanager
def _readable(path: Path) -> Iterator[None]:
    """A file that is not what its name says (text named .parquet, a cut-off download, a .gz that was
    never compressed) is the user's to fix: say so instead of the parser's traceback."""
    kind = {**dict.fromkeys(PARQUET_SUFFIXES, "Parquet"), **dict.fromkeys(EXCEL_SUFFIXES, "Excel")}
    named = kind.get(_base_suffix(path), "CSV")
    if path.suffix.lower() in {".gz", ".bz2"}:
        named += f" ({path.suffix.lower()[1:]})"
    try:
        yield
    except (duckdb.InvalidInputException, duckdb.IOException, pa.ArrowInvalid, zipfile.BadZipFile, EOFError,
            gzip.BadGzipFile, OSError) as exc:  # fmt: skip
        # OSError: what bz2 raises on data it cannot decompress; other OS errors are not the file's
        if type(exc) is OSError and path.suffix.lower() != ".bz2":
            raise
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(
            f"{path}: not a readable {named} file ({detail}).",
            hint="export it again; a file's suffix must match its format (.csv, .csv.gz, .parquet, .xlsx)",
        ) from None


# A report export's summary rows (合计 / Total), matched on a whole cell, spaces and a colon aside.
TOTAL_LABELS = frozenset(
    {
        "合计",
        "总计",
        "小计",
        "汇总",
        "总和",
        "合計",
        "總計",
        "total",
        "totals",
        "grandtotal",
        "subtotal",
        "sum",
    }
)
_SUM = re.compile(r"[¥￥$€£]?\s*-?[\d,]+(\.\d+)?%?")  # the sums beside the label


def read_excel(
    path: Path, *, sheet: str | int | None = None, keep_blank: bool = False
) -> tuple[pa.Table, list[str]]:
    """A sheet as text columns plus `ROW`, its row numbers as the spreadsheet shows them, and notes of
    the rows left out. A title row above the header (one cell filled, as report exports have) is
    skipped; rows with every cell empty (spacers between blocks) are left out, as CSV reading leaves
    out blank lines, and so are the total rows (合计) a report ends with, which are no record.
    `keep_blank`: an empty row above the last filled one is kept, as a CSV keeps its records with no
    value, so a caller's output lines up with the sheet's rows (a review left blank keeps its place)."""
    header = 0
    for _ in range(2):  # the sheet as read, then once more below a title row
        try:
            frame = pd.read_excel(path, sheet_name=0 if sheet is None else sheet, dtype=str, header=header)
        except (ValueError, zipfile.BadZipFile) as exc:
            if isinstance(exc, ValueError) and "Worksheet" in str(exc):  # a --sheet the workbook lacks
                raise UserError(f"{path}: {exc}") from None
            raise UserError(
                f"{path}: not a readable Excel file ({str(exc).splitlines()[0]}).",
                hint="save it again as .xlsx, or export CSV",
            ) from None
        untitled = sum(str(c).startswith("Unnamed: ") for c in frame.columns)
        if header or frame.shape[1] < 2 or untitled < frame.shape[1] - 1:
            break
        filled = frame.notna().sum(axis=1).to_numpy()
        below = np.flatnonzero(filled[:10] >= max(2, frame.shape[1] // 2))
        if not below.size:
            break
        header = int(below[0]) + 1
    # pandas renames a repeated header (金额, 金额.1): the sheet's own header row tells.
    named = pd.read_excel(
        path, sheet_name=0 if sheet is None else sheet, dtype=str, header=None, skiprows=header, nrows=1
    )
    _refuse_repeated(path, [str(c).strip() for c in named.iloc[0].dropna()] if len(named) else [], header + 1)
    frame.columns = [str(c).strip() for c in frame.columns]
    kept = np.flatnonzero((~frame.apply(blank)).any(axis=1).to_numpy())
    if keep_blank and kept.size:
        kept = np.arange(kept[-1] + 1)
    totals = _trailing_totals(frame.iloc[kept])
    notes = [f"row {kept[-i] + header + 2}: a total row ({label}), left out" for i, label in totals]
    kept = kept[: len(kept) - len(totals)]
    table = pa.Table.from_pandas(frame.iloc[kept], preserve_index=False)
    return table.append_column(ROW, pa.array(kept + header + 2, pa.int64())), notes[::-1]


def _trailing_totals(frame: pd.DataFrame) -> list[tuple[int, str]]:
    """(position from the end, label) of the summary rows at the bottom of `frame`, at most three: a
    cell says 合计 / Total and nothing more, and every other filled cell is a number (the sums)."""
    found: list[tuple[int, str]] = []
    for back in range(1, min(3, len(frame) - 1) + 1):
        cells = [c.strip() for c in frame.iloc[-back].dropna().astype(str) if c.strip()]
        words = [c for c in cells if not _SUM.fullmatch(c)]
        if len(words) != 1 or re.sub(r"[\s:：]+", "", words[0]).lower() not in TOTAL_LABELS:
            break
        found.append((back, words[0]))
    return found


def existing_file(path: Path) -> Path:
    """`path` as a Path, once it names a non-empty file (else a clear error)."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path} is a folder; name a file in it.")
    if not path.is_file():
        raise UserError(f"{path}: no such file.")
    if path.stat().st_size == 0:
        raise UserError(f"{path}: the file is empty.", hint="Export the data again with a header row.")
    if _base_suffix(path) == ".xls":  # binary Excel 97–2003: read as text it looks like broken GBK
        raise UserError(f"{path}: old Excel files (.xls) are not read.", hint="Save it as .xlsx or as CSV.")
    return path


def open_source(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    *,
    view: str = "src",
    encoding: str = "auto",
    delimiter: str | None = None,
    sheet: str | int | None = None,
    progress: Callable[[int], None] | None = None,
) -> Source:
    """Register `path` as view `view` on `con` with a `__row` column (and `__line` for CSV);
    `progress(rows read so far)` as a CSV streams in."""
    path = existing_file(path)
    with _readable(path):
        return _open_source(
            con, path, view=view, encoding=encoding, delimiter=delimiter, sheet=sheet, progress=progress
        )


def _open_source(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    *,
    view: str,
    encoding: str,
    delimiter: str | None,
    sheet: str | int | None,
    progress: Callable[[int], None] | None = None,
) -> Source:
    suffix = _base_suffix(path)
    used_encoding: str | None = None
    notes: list[str] = []
    if suffix in PARQUET_SUFFIXES:
        import pyarrow.parquet as pq

        # Times with a zone are read as the shop's clock showed them in that zone (a 00:00 order in
        # Asia/Shanghai stays 00:00 on its day), not converted to this machine's zone.
        schema = pq.read_schema(path)
        _refuse_repeated(path, schema.names, 1)  # DuckDB would rename the second (total_1)
        zoned = [
            f"timezone({sql_literal(field.type.tz)}, {ident(field.name)}) AS {ident(field.name)}"
            for field in schema
            if pa.types.is_timestamp(field.type) and field.type.tz
        ]
        replace = f"REPLACE ({', '.join(zoned)}) " if zoned else ""
        con.execute(
            f'CREATE OR REPLACE TEMP VIEW "{view}" AS SELECT * EXCLUDE (file_row_number) {replace}, '
            f"file_row_number + 1 AS {ROW} "
            f"FROM read_parquet({sql_literal(str(path))}, file_row_number = true)"
        )
    elif suffix in CSV_SUFFIXES:
        stream = open_csv(path, encoding=encoding, delimiter=delimiter)
        used_encoding = stream.encoding
        _stream_into(con, stream, f"{view}_rows", progress)
        con.execute(f'CREATE OR REPLACE TEMP VIEW "{view}" AS SELECT * FROM "{view}_rows"')
    elif suffix in EXCEL_SUFFIXES:
        table, notes = read_excel(path, sheet=sheet)
        con.register(f"{view}_arrow", table)
        con.execute(f'CREATE OR REPLACE TEMP VIEW "{view}" AS SELECT * FROM "{view}_arrow"')
    else:
        raise UserError(
            f"{path}: unsupported file type '{suffix}'.",
            hint="Use CSV (optionally .gz), Parquet or Excel (.xlsx).",
        )
    described = con.execute(f'DESCRIBE "{view}"').fetchall()
    types = {name: typ for name, typ, *_ in described if name not in (ROW, LINE)}
    lines = any(name == LINE for name, *_ in described)
    return Source(
        path=path,
        view=view,
        columns=tuple(types),
        types=types,
        encoding=used_encoding,
        lines=lines,
        notes=tuple(notes),
    )


def require_columns(frame: pd.DataFrame, columns: list[str], source: Path, hint: str = "") -> None:
    """A clear error naming every column `frame` lacks, and the columns it has."""
    missing = [c for c in dict.fromkeys(columns) if c not in frame.columns]
    if missing:
        raise UserError(
            f"{source}: no column {', '.join(map(repr, missing))}",
            hint=f"columns in the file: {', '.join(map(str, frame.columns))}" + (f"; {hint}" if hint else ""),
        )


def blank(values: pd.Series) -> pd.Series:
    """Which cells are missing or only whitespace (CSV cells arrive as text)."""
    return values.isna() | (values.astype(str).str.strip() == "")


def require_filled(frame: pd.DataFrame, column: str, source: Path, hint: str) -> None:
    """A clear error naming the rows (header = row 1) whose `column` is empty or blank."""
    empty = np.flatnonzero(blank(frame[column]).to_numpy())
    if empty.size:
        raise ValidationFailed(
            [f"row {i + 2}, column {column!r}: empty" for i in empty[:20]],
            source=str(source),
            hint=hint,
            total=empty.size,
        )


def read_frame(path: Path, *, keep_blank: bool = False) -> pd.DataFrame:
    """A whole small file in memory, every CSV/Excel column as text: CSV/TSV (UTF-8 or GBK, gzip ok),
    Parquet or Excel, chosen by suffix. Missing and empty files are a clear error. `keep_blank`: a CSV
    keeps its records with no value (`read_csv`), and a sheet its empty rows (`read_excel`),
    for callers whose output must line up with the input's records."""
    path = existing_file(path)
    suffix = _base_suffix(path)
    with _readable(path):
        if suffix in PARQUET_SUFFIXES:
            import pyarrow.parquet as pq

            return pq.read_table(path).to_pandas()
        if suffix in EXCEL_SUFFIXES:
            return read_excel(path, keep_blank=keep_blank)[0].drop_columns([ROW]).to_pandas()
        return read_csv(path, keep_blank=keep_blank)[0].to_pandas()
