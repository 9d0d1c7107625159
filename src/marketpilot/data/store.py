"""The analytical store: one DuckDB file under home, plus a private DuckDB file for personal data.

Every module reads and writes the canonical tables through this class; SQL stays here or in the
analytics module that owns a query, never in interfaces.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from marketpilot.config import Settings, get_settings
from marketpilot.data.money import set_shop_currency
from marketpilot.data.schema import TABLES, TableSpec
from marketpilot.errors import UserError

DB_FILE = "marketpilot.duckdb"
PRIVATE_DB_FILE = "private.duckdb"
ATTACHED = "marketpilot"  # catalog name of the store file on a connection it is attached to


def _literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _create_sql(spec: TableSpec) -> str:
    cols = ", ".join(f'"{c.name}" {c.type}' for c in spec.columns)
    return f'CREATE TABLE IF NOT EXISTS "{spec.name}" ({cols})'


class Store:
    """Typed access to the canonical tables. Use `Store.open(home)` as a context manager."""

    def __init__(
        self,
        settings: Settings,
        *,
        read_only: bool = False,
        con: duckdb.DuckDBPyConnection | None = None,
    ) -> None:
        self.settings = settings
        self.path = settings.path(DB_FILE)
        self.private_path = settings.path(PRIVATE_DB_FILE)
        # Reading a home that has no store yet sees empty tables in memory: a command that only reads
        # (and fails for want of data) must not leave store files behind.
        empty = read_only and con is None and not self.path.exists()
        self.read_only = read_only and not empty
        self._private_con: duckdb.DuckDBPyConnection | None = None
        try:
            if con is None:
                self.con = duckdb.connect(":memory:" if empty else str(self.path), read_only=self.read_only)
            else:
                con.execute(f"ATTACH IF NOT EXISTS {_literal(self.path)} AS {ATTACHED}")
                con.execute(f"USE {ATTACHED}")
                self.con = con
        except duckdb.IOException as exc:
            raise UserError(
                f"Cannot open the store at {self.path}: {exc}",
                hint="Another marketpilot process may be writing to it; wait for it to finish.",
            ) from exc
        set_shop_currency(self.con, settings.currency)
        if not self.read_only:
            private = "':memory:'" if empty else _literal(self.private_path)
            self.con.execute(f"ATTACH IF NOT EXISTS {private} AS private")
            for spec in TABLES.values():
                schema = "private." if spec.private else ""
                self.con.execute(_create_sql(spec).replace('EXISTS "', f'EXISTS {schema}"', 1))

    @classmethod
    def open(cls, home: Path | str | Settings | None = None, *, read_only: bool = False) -> Store:
        settings = home if isinstance(home, Settings) else get_settings(home)
        return cls(settings, read_only=read_only)

    @classmethod
    def attach(cls, settings: Settings, con: duckdb.DuckDBPyConnection) -> Store:
        """The store on an existing connection, made its default database: a loader validates on an
        in-memory connection first (a rejected load creates no file) and then writes from its temp
        tables without copying them. Closing the store closes `con`."""
        return cls(settings, con=con)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.con.close()

    @staticmethod
    def qualified(table: str) -> str:
        spec = _spec(table)
        return f'private."{spec.name}"' if spec.private else f'"{spec.name}"'

    @contextmanager
    def transaction(self) -> Iterator[Store]:
        """All writes inside happen or none do.

        DuckDB lets one transaction write only one database file, so writes to the private (PII)
        file go through a second cursor with its own transaction. Both are prepared fully and
        committed back to back (private first) only when the block succeeded; any error before
        that rolls both back.
        """
        self.con.execute("BEGIN TRANSACTION")
        self._private_con = self.con.cursor()
        self._private_con.execute("BEGIN TRANSACTION")
        try:
            yield self
        except BaseException:
            self._private_con.execute("ROLLBACK")
            self.con.execute("ROLLBACK")
            raise
        finally:
            private, self._private_con = self._private_con, None
        try:
            private.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        finally:
            private.close()
        self.con.execute("COMMIT")

    def upsert(
        self,
        table: str,
        data: pa.Table | pd.DataFrame | duckdb.DuckDBPyRelation,
        *,
        merge: bool = False,
    ) -> int:
        """Insert rows, replacing existing rows with the same natural key. Call inside `transaction()`
        to make several upserts atomic. Returns the number of rows written.

        With `merge`, a stored row is updated instead: columns that are NULL (or absent) in the
        incoming row keep their stored value. Incoming keys must then be unique.

        A DuckDB relation made on `self.con` (e.g. by a loader's staging query) is written without
        leaving DuckDB, so large loads never materialise in Python."""
        spec = _spec(table)
        con = self._private_con if spec.private and self._private_con is not None else self.con
        if isinstance(data, duckdb.DuckDBPyRelation) and con is not self.con:
            data = data.to_arrow_table()
        if isinstance(data, pd.DataFrame):
            data = pa.Table.from_pandas(data, preserve_index=False)
        present = set(data.columns if isinstance(data, duckdb.DuckDBPyRelation) else data.column_names)
        select = ", ".join(
            f'CAST("{c.name}" AS {c.type}) AS "{c.name}"'
            if c.name in present
            else f'CAST(NULL AS {c.type}) AS "{c.name}"'
            for c in spec.columns
        )
        target = self.qualified(table)
        on = " AND ".join(f't."{k}" = CAST(i."{k}" AS {spec.column(k).type})' for k in spec.key)
        # On error the surrounding transaction is aborted and rolls the registration back with it.
        # `_incoming` is scanned twice (delete/update, insert) rather than copied: staged loads are
        # already tables, and a copy of 10M rows would double the memory a load needs.
        con.register("_incoming", data)
        rows, new_only = 0, ""
        if con.execute(f"SELECT 1 FROM {target} LIMIT 1").fetchall():
            if merge:
                sets = ", ".join(
                    f'"{c.name}" = coalesce(CAST(i."{c.name}" AS {c.type}), t."{c.name}")'
                    for c in spec.columns
                    if c.name in present and c.name not in spec.key
                )
                if sets:
                    update = f"UPDATE {target} AS t SET {sets} FROM _incoming i WHERE {on}"
                    rows = int(con.execute(update).fetchall()[0][0])
                new_only = f"WHERE NOT EXISTS (SELECT 1 FROM {target} t WHERE {on})"
            else:
                con.execute(f"DELETE FROM {target} t WHERE EXISTS (SELECT 1 FROM _incoming i WHERE {on})")
        insert = f"INSERT INTO {target} SELECT {select} FROM _incoming i {new_only}"
        rows += int(con.execute(insert).fetchall()[0][0])
        con.unregister("_incoming")
        return rows

    def _readable(self, table: str) -> TableSpec:
        """The table's spec; a private table on a read-only store (which leaves the personal-data
        file closed) is a UserError that says so, not DuckDB's "schema private does not exist"."""
        spec = _spec(table)
        if spec.private and self.read_only:
            raise UserError(
                f"Table '{table}' holds personal data, which a read-only store does not open.",
                hint="Open the store with Store.open(settings) (read_only=False) to read it.",
            )
        return spec

    def read(self, table: str, columns: list[str] | None = None) -> pd.DataFrame:
        spec = self._readable(table)
        cols = ", ".join(f'"{c}"' for c in (columns or spec.column_names))
        return self.con.execute(f"SELECT {cols} FROM {self.qualified(table)}").df()

    def arrow(self, table: str, columns: list[str] | None = None) -> pa.Table:
        spec = self._readable(table)
        cols = ", ".join(f'"{c}"' for c in (columns or spec.column_names))
        return self.con.sql(f"SELECT {cols} FROM {self.qualified(table)}").to_arrow_table()

    def query(self, sql: str, params: Mapping[str, Any] | list[Any] | None = None) -> pd.DataFrame:
        """Run an analytical query (owned by the calling analytics module) and return a DataFrame."""
        return self.con.execute(sql, params or []).df()

    def count(self, table: str) -> int:
        self._readable(table)
        return int(self.con.execute(f"SELECT count(*) FROM {self.qualified(table)}").fetchall()[0][0])

    def counts(self) -> dict[str, int]:
        """Rows per table; a read-only store leaves out the personal-data tables it does not open."""
        return {
            name: self.count(name) for name, spec in TABLES.items() if not (spec.private and self.read_only)
        }

    def is_empty(self) -> bool:
        return all(n == 0 for n in self.counts().values())


def _spec(table: str) -> TableSpec:
    try:
        return TABLES[table]
    except KeyError:
        raise UserError(f"Unknown table '{table}'.", hint=f"Tables: {', '.join(TABLES)}") from None
