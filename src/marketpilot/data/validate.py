"""Vectorised validation: each check is one SQL predicate over a source view; every problem is collected
(file, row, column, value, what was expected) before anything is written."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
from pydantic import BaseModel

from marketpilot.data.readers import LINE, ROW, ident, row_label, sql_literal  # noqa: F401  (re-exported)
from marketpilot.errors import ValidationFailed

SAMPLE_ROWS = 5  # rows named per problem kind; the count of the rest is reported


class Problem(BaseModel):
    row: int | None = None
    line: int | None = None  # where the row starts in the file, when it differs from the row
    column: str | None = None
    value: str | None = None
    expected: str

    def __str__(self) -> str:
        where = ", ".join(
            part
            for part in (
                row_label(self.row, self.line) if self.row is not None else "",
                f"column '{self.column}'" if self.column else "",
                f"value {self.value!r}" if self.value is not None else "",
            )
            if part
        )
        return f"{where}: expected {self.expected}" if where else f"expected {self.expected}"


@dataclass(frozen=True)
class Check:
    """Rows where `bad` (SQL) is true violate the check; `value` (SQL) is what the user is shown."""

    column: str
    bad: str
    value: str
    expected: str


def line_sql(con: duckdb.DuckDBPyConnection, view: str) -> str:
    """The view's LINE column, or NULL for sources without one (Parquet, Excel)."""
    names = {r[0] for r in con.execute(f"DESCRIBE {ident(view)}").fetchall()}
    return LINE if LINE in names else "NULL::BIGINT"


def run_checks(con: duckdb.DuckDBPyConnection, view: str, checks: list[Check]) -> list[Problem]:
    problems: list[Problem] = []
    line = line_sql(con, view) if checks else "NULL"
    for check in checks:
        rows = con.execute(
            f"SELECT {ROW}, {line}, CAST({check.value} AS VARCHAR), count(*) OVER () FROM {ident(view)} "
            f"WHERE {check.bad} ORDER BY {ROW} LIMIT {SAMPLE_ROWS}"
        ).fetchall()
        problems += [
            Problem(row=r, line=n, column=check.column, value=v, expected=check.expected)
            for r, n, v, _ in rows
        ]
        if rows and rows[0][3] > len(rows):
            problems.append(
                Problem(
                    column=check.column, expected=f"{check.expected} ({rows[0][3] - len(rows)} more rows)"
                )
            )
    return problems


def duplicate_keys(
    con: duckdb.DuckDBPyConnection, view: str, key: tuple[str, ...], *, label: str | None = None
) -> list[Problem]:
    """Rows sharing a natural key: loading them would keep only one, so they are an error."""
    cols = ", ".join(ident(k) for k in key)
    not_null = " AND ".join(f"{ident(k)} IS NOT NULL" for k in key)
    # A plain GROUP BY on the key columns finds duplicates cheaply; rows are listed only for those.
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _dup_keys AS SELECT {cols}, count(*) AS n "
        f"FROM {ident(view)} WHERE {not_null} GROUP BY ALL HAVING count(*) > 1"
    )
    total = con.execute("SELECT count(*) FROM _dup_keys").fetchall()[0][0]
    rows = []
    if total:
        line = line_sql(con, view)
        rows = con.execute(
            f"SELECT concat_ws(' / ', {', '.join(f'v.{ident(k)}' for k in key)}), "
            f"list(v.{ROW} ORDER BY v.{ROW})[1:{SAMPLE_ROWS}], "
            f"list(v.{line} ORDER BY v.{ROW})[1:{SAMPLE_ROWS}] "
            f"FROM {ident(view)} v SEMI JOIN _dup_keys d USING ({cols}) "
            f"GROUP BY ALL ORDER BY min(v.{ROW}) LIMIT {SAMPLE_ROWS}"
        ).fetchall()
    con.execute("DROP TABLE _dup_keys")
    name = label or " + ".join(key)
    problems = [
        Problem(
            row=dup_rows[0],
            line=lines[0],
            column=name,
            value=value,
            expected=f"each {name} once, but rows {', '.join(map(str, dup_rows))}"
            f"{_lines_note(dup_rows, lines)} share it",
        )
        for value, dup_rows, lines in rows
    ]
    if total > len(rows):
        problems.append(Problem(column=name, expected=f"unique keys ({total - len(rows)} more duplicated)"))
    return problems


def _lines_note(rows: list[int], lines: list[int | None]) -> str:
    if all(n is None or n == r for r, n in zip(rows, lines, strict=True)):
        return ""
    return f" (lines {', '.join(map(str, lines))} of the file)"


def raise_if_any(problems: list[Problem], source: str, *, hint: str | None = None) -> None:
    if problems:
        raise ValidationFailed([str(p) for p in problems], source=source, hint=hint)
