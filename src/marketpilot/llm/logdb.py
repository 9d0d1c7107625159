"""`llm.sqlite` under home: the completion cache and the ledger (tokens, latency, cost of every call).

Schema changes are append-only migrations numbered by SQLite's `user_version`.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from marketpilot.llm.base import Completion, Message, PromptRef, Usage
from marketpilot.sqlite_wal import enable_wal

_MIGRATIONS = [
    """
    CREATE TABLE completion_cache (
        key TEXT PRIMARY KEY,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        prompt_name TEXT,
        prompt_version TEXT,
        text TEXT NOT NULL,
        finish_reason TEXT,
        prompt_tokens INTEGER NOT NULL,
        completion_tokens INTEGER NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE TABLE ledger (
        id INTEGER PRIMARY KEY,
        ts REAL NOT NULL,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        prompt_name TEXT,
        prompt_version TEXT,
        prompt_language TEXT,
        status TEXT NOT NULL,            -- ok | cached | error
        attempts INTEGER NOT NULL,       -- provider round trips, retries included
        prompt_tokens INTEGER NOT NULL,
        completion_tokens INTEGER NOT NULL,
        latency_s REAL NOT NULL,
        cost REAL NOT NULL,
        error TEXT
    );
    CREATE INDEX ledger_ts ON ledger (ts);
    """,
]


class UsageRow(BaseModel):
    provider: str
    model: str
    prompt: str | None
    calls: int
    cached: int
    errors: int
    prompt_tokens: int
    completion_tokens: int
    cost: float
    mean_latency_s: float


def cache_key(
    provider: str,
    model: str,
    prompt: PromptRef | None,
    messages: list[Message],
    params: BaseModel,
    schema: dict[str, Any] | None,
) -> str:
    material = {
        "provider": provider,
        "model": model,
        "prompt": prompt.model_dump() if prompt else None,
        "messages": [m.model_dump() for m in messages],
        "params": params.model_dump(mode="json"),
        "schema": schema,
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _statements(script: str) -> list[str]:
    """A migration script cut into whole statements (a ';' inside a string or trigger stays put)."""
    statements, current = [], ""
    for part in script.split(";"):
        current += part + ";"
        if sqlite3.complete_statement(current):
            if current.strip(" \n;"):
                statements.append(current.strip())
            current = ""
    return statements


class LLMLog:
    """Thread-safe (one connection behind a lock; WAL so other processes can read meanwhile)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, timeout=30, isolation_level=None)
        enable_wal(self._db)
        # A ledger row lost to a power cut is acceptable; an fsync per LLM call in a batch is not.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._migrate()

    def _migrate(self) -> None:
        """Several clients (threads of an API server, processes of a batch) may open a new home at
        once: the version is read again under the write lock, so only the first one migrates."""
        with self._lock:
            if self._version() >= len(_MIGRATIONS):
                return
            self._db.execute("BEGIN IMMEDIATE")
            try:
                version = self._version()
                for number, script in enumerate(_MIGRATIONS[version:], start=version + 1):
                    for statement in _statements(script):  # executescript would commit halfway
                        self._db.execute(statement)
                    self._db.execute(f"PRAGMA user_version = {number}")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def get(self, key: str) -> Completion | None:
        with self._lock:
            row = self._db.execute(
                "SELECT provider, model, text, finish_reason, prompt_tokens, completion_tokens "
                "FROM completion_cache WHERE key = ?",
                (key,),
            ).fetchone()
        if row is None:
            return None
        provider, model, text, finish_reason, prompt_tokens, completion_tokens = row
        return Completion(
            text=text,
            provider=provider,
            model=model,
            usage=Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens),
            finish_reason=finish_reason,
            cached=True,
        )

    def put(self, key: str, completion: Completion) -> None:
        prompt = completion.prompt
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO completion_cache VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    completion.provider,
                    completion.model,
                    prompt.name if prompt else None,
                    prompt.version if prompt else None,
                    completion.text,
                    completion.finish_reason,
                    completion.usage.prompt_tokens,
                    completion.usage.completion_tokens,
                    time.time(),
                ),
            )

    def record(
        self,
        *,
        provider: str,
        model: str,
        prompt: PromptRef | None,
        status: str,
        attempts: int,
        usage: Usage,
        latency_s: float,
        cost: float,
        error: str | None = None,
    ) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO ledger (ts, provider, model, prompt_name, prompt_version, prompt_language,"
                " status, attempts, prompt_tokens, completion_tokens, latency_s, cost, error)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    time.time(),
                    provider,
                    model,
                    prompt.name if prompt else None,
                    prompt.version if prompt else None,
                    prompt.language if prompt else None,
                    status,
                    attempts,
                    usage.prompt_tokens,
                    usage.completion_tokens,
                    latency_s,
                    cost,
                    error,
                ),
            )

    def usage(self, since_ts: float | None = None) -> list[UsageRow]:
        """Totals per provider, model and prompt template (name@version)."""
        with self._lock:
            rows = self._db.execute(
                """
                SELECT provider, model,
                       CASE WHEN prompt_name IS NULL THEN NULL ELSE prompt_name || '@' || prompt_version END,
                       COUNT(*), SUM(status = 'cached'), SUM(status = 'error'),
                       SUM(prompt_tokens), SUM(completion_tokens), SUM(cost), AVG(latency_s)
                FROM ledger WHERE ts >= ?
                GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
                """,
                (since_ts or 0.0,),
            ).fetchall()
        fields = list(UsageRow.model_fields)
        return [UsageRow(**dict(zip(fields, row, strict=True))) for row in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()
