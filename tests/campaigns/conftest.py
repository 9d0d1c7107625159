"""Campaign fixtures: a small shop in the home, and campaign state on SQLite or PostgreSQL."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from campaign_shop import build_shop
from receivers import free_port

from marketpilot.campaigns.state.db import dispose_engines, open_state
from marketpilot.config import Settings, get_settings

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


def _pg_up() -> bool:
    if shutil.which("pg_isready") is None:
        return True  # let psycopg say what is wrong
    return (
        subprocess.run(["pg_isready", "-h", "127.0.0.1", "-p", "5432"], capture_output=True).returncode == 0
    )


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh database for this test session, dropped afterwards."""
    psycopg = pytest.importorskip("psycopg")
    if not _pg_up():
        pytest.fail("PostgreSQL is not accepting connections on 127.0.0.1:5432 (.ci/run starts it)")
    name = f"mp_campaigns_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as con:
        con.execute(f'CREATE DATABASE "{name}"')
    yield name
    dispose_engines()
    with psycopg.connect(PG_ADMIN, autocommit=True) as con:
        con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def backend(request: pytest.FixtureRequest, home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Runs a test on SQLite under home and on PostgreSQL (one fresh schema per test)."""
    if request.param == "sqlite":
        monkeypatch.delenv("MARKETPILOT_DATABASE_URL", raising=False)
        yield "sqlite"
        return
    import psycopg

    database = request.getfixturevalue("pg_database")
    schema = f"t_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{database}", autocommit=True) as con:
        con.execute(f'CREATE SCHEMA "{schema}"')
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}?options=-csearch_path%3D{schema}"
    monkeypatch.setenv("MARKETPILOT_DATABASE_URL", url)
    yield "postgresql"
    dispose_engines()
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{database}", autocommit=True) as con:
        con.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def shop_settings(backend: str, home: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    # Rate limiting has its own test (test_crash); elsewhere it would only slow the suite down.
    monkeypatch.setenv("MARKETPILOT_DISPATCH_RATE_PER_S", "100000")
    settings = get_settings(home)
    build_shop(settings, n=int(os.environ.get("MP_TEST_SHOP_SIZE", "3000")))
    return settings


@pytest.fixture
def engine(shop_settings: Settings):  # type: ignore[no-untyped-def]
    return open_state(shop_settings)


@pytest.fixture
def smtp_server(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """A real SMTP server (aiosmtpd) on 127.0.0.1 collecting envelopes; MARKETPILOT_SMTP_* point at it."""
    from aiosmtpd.controller import Controller

    class Collect:
        def __init__(self) -> None:
            self.envelopes = []

        async def handle_DATA(self, server, session, envelope):
            self.envelopes.append(envelope)
            return "250 OK"

    handler = Collect()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("MARKETPILOT_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("MARKETPILOT_SMTP_PORT", str(port))
    yield handler
    controller.stop()


@pytest.fixture
def sms_gateway(shop_settings: Settings, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """A signed-webhook SMS gateway on 127.0.0.1 (receivers.Gateway); MARKETPILOT_WEBHOOK_URL points at it."""
    from receivers import Gateway

    gateway = Gateway(shop_settings.secret())
    monkeypatch.setenv("MARKETPILOT_WEBHOOK_URL", gateway.url)
    yield gateway
    gateway.close()
