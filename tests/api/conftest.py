"""A sample shop for the API tests, built once per test module."""

from __future__ import annotations

import pytest
from api_shop import HEADERS

from marketpilot.config import Settings, get_settings


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A sample shop after RFM, segmentation and `recommend fit`, with one API key."""
    from marketpilot.analytics.recommend.serving import recommend_for_all
    from marketpilot.analytics.rfm import run_rfm
    from marketpilot.analytics.segments.service import run_segmentation
    from marketpilot.data.sample import make_sample

    settings = get_settings(tmp_path_factory.mktemp("api") / "home", api_keys=[HEADERS["X-API-Key"]])
    make_sample(settings, customers=300, seed=3)
    run_rfm(settings)
    run_segmentation(settings, personas=False, report=False)
    recommend_for_all(settings, k=10)
    return settings
