"""Shared fixtures: a temporary home per test, and the repo's bundled data directory."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

# Under pytest-xdist (`pytest -n auto`) each worker takes its share of the cores for the thread pools of the
# embedded model (llama.cpp), the e5 encoder and LightGBM (OpenMP) and BLAS. Their threads meet at
# spinning barriers: on 2 cores (busy with other work too), two processes each generating with the
# model took 150 s with the default threads and 43 s with one thread each (e5 embedding: 283 s and
# 161 s). Set here, before any of those libraries loads; a variable already set wins.
if _workers := os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    _share = str(max(1, (os.cpu_count() or 1) // int(_workers)))
    for _name in ("MARKETPILOT_LLM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_name, _share)

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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under xdist (`make test`: --dist loadfile --no-loadscope-reorder), hand out the files with the
    most `slow` tests first, so that the long ones run side by side from the start instead of one of
    them running alone at the end; each file keeps its own order, and a serial run is untouched."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    slow = Counter(item.path for item in items if item.get_closest_marker("slow"))
    items.sort(key=lambda item: -slow[item.path])  # stable: files stay whole and in order
