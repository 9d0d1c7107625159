"""Shared fixtures: a temporary home per test, and the repo's bundled data directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from llm_server import llm_server, llm_settings  # noqa: F401  (OpenAI-protocol test server fixtures)
from marketpilot.config import Settings, get_settings

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty MarketPilot home; MARKETPILOT_HOME points at it for CLI calls too."""
    path = tmp_path / "home"
    monkeypatch.setenv("MARKETPILOT_HOME", str(path))
    return path


@pytest.fixture
def settings(home: Path) -> Settings:
    return get_settings(home)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA
