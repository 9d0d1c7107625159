"""`import marketpilot` is the public Python API (STYLE.md: `__init__.py`, `__all__`): every name
resolves to the function the CLI calls, and importing the package loads nothing heavy."""

from __future__ import annotations

import subprocess
import sys

import pytest

import marketpilot
from marketpilot.analytics.reviews.sentiment import load_model
from marketpilot.analytics.rfm import run_rfm


def test_every_public_name_resolves_to_the_library_function() -> None:
    for name in marketpilot.__all__:
        assert getattr(marketpilot, name) is not None, name
    assert marketpilot.run_rfm is run_rfm
    assert marketpilot.load_sentiment_model is load_model
    assert dir(marketpilot) == sorted(marketpilot.__all__)  # no private helpers or submodules
    with pytest.raises(AttributeError, match="no_such_function"):
        marketpilot.no_such_function  # noqa: B018


def test_importing_the_package_loads_no_heavy_library() -> None:
    code = (
        "import sys, marketpilot; "
        "print(sorted(m for m in ('duckdb', 'sklearn', 'pandas', 'torch', 'llama_cpp') if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"


def test_the_sample_shop_runs_through_the_top_level_names(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import marketpilot as mp

    settings = mp.get_settings(tmp_path / "home")
    mp.make_sample(settings, customers=200, products=40, seed=5)
    with mp.Store.open(settings, read_only=True) as store:
        assert store.count("customers") == 200
    summary, table = mp.run_rfm(settings)
    assert len(table) > 100 and sum(c.share for c in summary.classes) == pytest.approx(1.0)
