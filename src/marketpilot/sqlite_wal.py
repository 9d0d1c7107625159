"""SQLite files that several processes open at once (the shared embedding cache, a home's LLM ledger,
campaign state) are switched to WAL on open; this does it without failing when another opens it too."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

_RETRY_S = 0.02


def enable_wal(connection: Any, timeout_s: float = 30.0) -> None:
    """`PRAGMA journal_mode=WAL` on a DB-API connection or cursor, retried for up to `timeout_s`.

    Switching a new file to WAL needs an exclusive lock, and SQLite answers "database is locked" at once
    when another connection holds one, without waiting out the busy timeout: two processes opening a new
    cache together (two test workers, two jobs) failed about once in twenty."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(_RETRY_S)


__all__ = ["enable_wal"]
