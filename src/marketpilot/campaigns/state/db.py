"""Opening campaign state: an engine for settings.state_url, migrated to head on open.

SQLite under home by default; PostgreSQL when MARKETPILOT_DATABASE_URL is postgresql+psycopg://…
Migrations ship inside the package and only ever get appended to.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from marketpilot.config import Settings
from marketpilot.errors import MissingExtraError, UserError
from marketpilot.sqlite_wal import enable_wal

MIGRATIONS = Path(__file__).with_name("migrations")
# One migrated engine per URL and process, with the identity of its SQLite file when it was opened.
_ENGINES: dict[str, tuple[Engine, tuple[int, int] | None]] = {}
_LOCK = threading.Lock()


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    # WAL lets a tracking receiver read while a run writes; busy_timeout waits for the writer.
    cursor.execute("PRAGMA busy_timeout=30000")
    enable_wal(cursor)
    # Under WAL, NORMAL keeps every commit atomic across a process crash (kill -9); only a power cut
    # can lose the last commits, never corrupt the file.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_file(url: str) -> tuple[int, int] | None:
    """(device, inode) of a SQLite database file; None for other databases or a file not there."""
    if not url.startswith("sqlite"):
        return None
    try:
        stat = os.stat(make_url(url).database or "")
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def _migrated_engine(url: str) -> Engine:
    if url.startswith("postgresql"):
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise MissingExtraError("psycopg", "pg") from None
    engine = create_engine(url, future=True)
    if url.startswith("sqlite"):
        event.listen(engine, "connect", _sqlite_pragmas)
    try:
        with engine.begin() as connection:
            config = _alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except OperationalError as exc:
        raise UserError(
            f"Cannot open campaign state at {engine.url.render_as_string(hide_password=True)}: {exc.orig}",
            hint="Check MARKETPILOT_DATABASE_URL (postgresql+psycopg://user@host/db) or the home directory.",
        ) from exc
    return engine


def open_state(settings: Settings) -> Engine:
    """The migrated engine for settings.state_url, made once per process. A SQLite file deleted or
    replaced since (a home removed and made again by a long-running server) gets a fresh engine,
    migrated again, instead of pooled connections to the old file."""
    url = settings.state_url
    with _LOCK:
        cached = _ENGINES.get(url)
        if cached is not None and (not url.startswith("sqlite") or cached[1] == _sqlite_file(url)):
            return cached[0]
        if cached is not None:
            cached[0].dispose()
        engine = _migrated_engine(url)
        _ENGINES[url] = (engine, _sqlite_file(url))
        return engine


@contextmanager
def session_scope(settings_or_engine: Settings | Engine) -> Iterator[Session]:
    """A session whose work commits on success and rolls back on any error."""
    engine = settings_or_engine if isinstance(settings_or_engine, Engine) else open_state(settings_or_engine)
    factory = sessionmaker(engine, expire_on_commit=False)
    with factory() as session, session.begin():
        yield session


def dispose_engines() -> None:
    """Close every pooled connection (tests drop their PostgreSQL schemas afterwards)."""
    with _LOCK:
        for engine, _ in _ENGINES.values():
            engine.dispose()
        _ENGINES.clear()
